"""Bag-of-characters features and two linear classifiers fitted by different objectives.

* ``BagOfChars``: texts -> character-count matrices, over a vocabulary fitted on training texts.
* ``MultinomialNaiveBayes``: generative; fits the joint p(x, y) = p(y) prod_t p(x_t | y),
  Eq. (eq-gd-nb-joint), with add-alpha smoothing, Eq. (eq-gd-nb-mle).
* ``LogisticRegression``: discriminative; fits p(y | x) = sigmoid(w . x + b) directly by
  minimising the L2-regularised negative conditional log-likelihood, Eq. (eq-gd-lr-obj).

Both classify by the sign of a linear function of the same counts (Eq. (eq-gd-nb-linear)).
Labels are binary: 1 (positive) and 0 (negative). Everything is computed in float64.
"""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .tokenizers import CharTokenizer

__all__ = [
    "UNK",
    "BagOfChars",
    "MultinomialNaiveBayes",
    "LogisticRegression",
    "select_rows",
    "conditional_log_likelihood",
    "error_rate",
]

UNK = "<unk>"  # feature 0: characters outside the fitted vocabulary
DTYPE = torch.float64


# ------------------------------------------------------------------------- features
class BagOfChars:
    """Count features: X[i, j] = how often character ``feature_names[j]`` occurs in text i.

    The vocabulary comes from the texts passed to ``fit`` (training texts only): characters
    seen at least ``min_freq`` times, at most ``max_features`` columns. Column 0 is ``<unk>``
    and counts the other characters. ``transform`` returns a sparse CSR tensor (default) or a
    dense one, both float64.
    """

    def __init__(self, min_freq: int = 1, max_features: int | None = None, sparse: bool = True) -> None:
        if not _is_int(min_freq) or min_freq < 1:
            raise ValueError(f"min_freq must be a positive int, got {min_freq!r}")
        if max_features is not None and (not _is_int(max_features) or max_features < 2):
            raise ValueError(f"max_features must be None or an int >= 2 (<unk> plus one character), "
                             f"got {max_features!r}")
        self.min_freq, self.max_features, self.sparse = min_freq, max_features, bool(sparse)
        self.tokenizer: CharTokenizer | None = None

    def fit(self, texts: Sequence[str]) -> BagOfChars:
        """Fit the character vocabulary on ``texts`` (the training texts)."""
        texts = _check_texts(texts)
        if not texts:
            raise ValueError("texts is empty; pass at least one training text to fit the vocabulary")
        self.tokenizer = CharTokenizer.from_texts(
            texts, max_size=self.max_features, min_freq=self.min_freq, specials=(UNK,))
        return self

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The character counted by each column (column 0 is ``<unk>``)."""
        return self._fitted().vocab

    @property
    def num_features(self) -> int:
        """Number of columns V of the feature matrix."""
        return len(self._fitted())

    def transform(self, texts: Sequence[str]) -> torch.Tensor:
        """The (N, V) float64 count matrix of ``texts``, sparse CSR or dense."""
        tok = self._fitted()
        ids = [tok.encode(text) for text in _check_texts(texts)]
        N, V = len(ids), len(tok)
        lengths = torch.tensor([len(i) for i in ids], dtype=torch.int64)
        rows = torch.repeat_interleave(torch.arange(N), lengths)
        cols = torch.tensor([j for i in ids for j in i], dtype=torch.int64)
        keys, counts = torch.unique(rows * V + cols, return_counts=True)  # one key per (row, col)
        rows, cols, vals = keys // V, keys % V, counts.to(DTYPE)
        if self.sparse:
            return _csr(rows, cols, vals, (N, V))
        X = torch.zeros((N, V), dtype=DTYPE)
        X[rows, cols] = vals
        return X

    def fit_transform(self, texts: Sequence[str]) -> torch.Tensor:
        """``fit(texts)`` then ``transform(texts)``."""
        return self.fit(texts).transform(texts)

    def _fitted(self) -> CharTokenizer:
        if self.tokenizer is None:
            raise RuntimeError("this BagOfChars is not fitted yet; call fit(train_texts) first")
        return self.tokenizer


def _csr(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor,
         shape: tuple[int, int]) -> torch.Tensor:
    """A CSR matrix from distinct (row, col) entries in any order."""
    order = torch.argsort(rows * shape[1] + cols)
    crow = torch.zeros(shape[0] + 1, dtype=torch.int64)
    crow[1:] = torch.bincount(rows, minlength=shape[0]).cumsum(0)
    return _csr_from_parts(crow, cols[order], vals[order], shape)


def _csr_from_parts(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor,
                    shape: tuple[int, int]) -> torch.Tensor:
    with warnings.catch_warnings():  # PyTorch marks CSR as beta; the ops used here are stable
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, val, shape, check_invariants=False)


def select_rows(X: torch.Tensor, index) -> torch.Tensor:
    """Rows ``index`` of a dense or sparse CSR matrix X, in that order (CSR stays CSR)."""
    X = _check_X(X)
    if X.layout == torch.sparse_coo:
        X = _Design(X).X
    index = torch.as_tensor(index, dtype=torch.int64)
    if index.dim() != 1:
        raise ValueError(f"index must be 1-D, got shape {tuple(index.shape)}")
    if index.numel() and (index.min() < 0 or index.max() >= X.shape[0]):
        raise IndexError(f"row index out of range: X has {X.shape[0]} rows, got indices "
                         f"{index.min().item()}..{index.max().item()}")
    if X.layout == torch.strided:
        return X[index]
    crow, col, val = X.crow_indices(), X.col_indices(), X.values()
    starts, lengths = crow[index], crow[index + 1] - crow[index]
    new_crow = torch.zeros(index.numel() + 1, dtype=torch.int64)
    new_crow[1:] = lengths.cumsum(0)
    # position of each kept entry in the old arrays: its old row start + offset within the row
    pos = torch.arange(int(new_crow[-1])) + torch.repeat_interleave(starts - new_crow[:-1], lengths)
    return _csr_from_parts(new_crow, col[pos], val[pos], (index.numel(), X.shape[1]))


class _Design:
    """A feature matrix X with fast products X @ v and X^T @ u (dense, or two CSR matrices)."""

    def __init__(self, X: torch.Tensor) -> None:
        if X.layout == torch.strided:
            self.X, self.Xt = X, X.T
            return
        coo = X.to_sparse_coo().coalesce()
        (rows, cols), vals = coo.indices(), coo.values()
        self.X = _csr(rows, cols, vals, tuple(X.shape))
        self.Xt = _csr(cols, rows, vals, (X.shape[1], X.shape[0]))

    def mv(self, v: torch.Tensor) -> torch.Tensor:
        return self.X @ v  # (N, V) @ (V, ...) -> (N, ...)

    def rmv(self, u: torch.Tensor) -> torch.Tensor:
        return self.Xt @ u  # (V, N) @ (N, ...) -> (V, ...)


# ------------------------------------------------------------------------- shared parts
class _LinearBinaryClassifier:
    """What both classifiers share: log-odds z(x) = w . x + b decide the class."""

    _fitted_attr = "coef_"

    def log_odds(self, X: torch.Tensor) -> torch.Tensor:
        """log p(y=1 | x) / p(y=0 | x) for each row of X, shape (N,)."""
        raise NotImplementedError

    def predict_proba(self, X: torch.Tensor) -> torch.Tensor:
        """p(y=1 | x) for each row of X, shape (N,)."""
        return torch.sigmoid(self.log_odds(X))

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """Predicted labels (1 where p(y=1 | x) > 1/2, else 0), int64 of shape (N,)."""
        return (self.log_odds(X) > 0).to(torch.int64)

    def _check_fitted(self) -> None:
        if getattr(self, self._fitted_attr, None) is None:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    def _check_predict_X(self, X: torch.Tensor) -> torch.Tensor:
        self._check_fitted()
        return _check_X(X, num_features=self.num_features)


# ------------------------------------------------------------------------- naive Bayes
class MultinomialNaiveBayes(_LinearBinaryClassifier):
    """Generative classifier p(y) prod_t p(x_t | y) over counts, Eq. (eq-gd-nb-joint).

    Fitted attributes: ``class_count_`` (2,), ``feature_count_`` (2, V) = c_{yj},
    ``log_prior_`` (2,) = log pi_y and ``log_theta_`` (2, V) = log theta_{yj} (Eq. (eq-gd-nb-mle)).
    """

    _fitted_attr = "log_theta_"

    def __init__(self, alpha: float = 1.0) -> None:
        if not _is_real(alpha) or not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"alpha must be a positive number (add-alpha smoothing; 1 is Laplace), "
                             f"got {alpha!r}")
        self.alpha = float(alpha)
        self.class_count_ = self.feature_count_ = self.log_prior_ = self.log_theta_ = None

    @property
    def num_features(self) -> int:
        """Number of features V seen in fit."""
        self._check_fitted()
        return self.log_theta_.shape[1]

    def fit(self, X: torch.Tensor, y) -> MultinomialNaiveBayes:
        """Count, smooth and take logs: Eq. (eq-gd-nb-mle)."""
        X = _check_X(X)
        y = _check_labels(y, X.shape[0], fitting=True)
        values = X.values() if X.layout == torch.sparse_csr else X
        if values.numel() and values.min() < 0:
            raise ValueError("naive Bayes needs non-negative counts, but X has negative entries")
        Y = F.one_hot(y, 2).to(DTYPE)  # (N, 2)
        self.class_count_ = Y.sum(0)  # (2,)
        self.feature_count_ = _Design(X).rmv(Y).T.contiguous()  # (V, 2) -> (2, V)
        self.log_prior_ = torch.log(self.class_count_ / X.shape[0])
        smoothed = self.feature_count_ + self.alpha
        self.log_theta_ = torch.log(smoothed) - torch.log(smoothed.sum(1, keepdim=True))
        return self

    def joint_log_likelihood(self, X: torch.Tensor) -> torch.Tensor:
        """log p(x, y) for y = 0, 1 and each row of X, shape (N, 2): Eq. (eq-gd-nb-joint)."""
        X = self._check_predict_X(X)
        return X @ self.log_theta_.T.contiguous() + self.log_prior_  # (N, V) @ (V, 2) -> (N, 2)

    def predict_proba(self, X: torch.Tensor) -> torch.Tensor:
        """p(y=1 | x) by Bayes' rule, p(x, 1) / (p(x, 0) + p(x, 1)), shape (N,)."""
        return torch.softmax(self.joint_log_likelihood(X), dim=1)[:, 1]

    def log_odds(self, X: torch.Tensor) -> torch.Tensor:
        """log p(x, 1) - log p(x, 0), shape (N,)."""
        jll = self.joint_log_likelihood(X)
        return jll[:, 1] - jll[:, 0]

    def linear_form(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(w, b) with w_j = log theta_1j - log theta_0j, b = log pi_1 / pi_0: Eq. (eq-gd-nb-linear)."""
        self._check_fitted()
        return self.log_theta_[1] - self.log_theta_[0], self.log_prior_[1] - self.log_prior_[0]


# ------------------------------------------------------------------------- logistic regression
class LogisticRegression(_LinearBinaryClassifier):
    """Discriminative classifier p(y=1 | x) = sigmoid(w . x + b), Eq. (eq-gd-lr).

    ``fit`` minimises Eq. (eq-gd-lr-obj), sum_i -log p(y_i | x_i) + (l2 / 2) ||w||^2 (the bias
    is not penalised), with full-batch L-BFGS in float64 from w = 0, b = 0. It stops when the
    largest gradient component, divided by the number of examples N, is at most ``tol``
    (``converged_``); if L-BFGS stops earlier (``max_iter`` reached, or no more progress in
    float64), it warns. Fitted attributes: ``coef_`` (V,), ``intercept_`` (0-d), ``n_iter_``,
    ``grad_max_`` (largest gradient component at the end), ``converged_``.
    """

    def __init__(self, l2: float = 1.0, tol: float = 1e-7, max_iter: int = 1000,
                 history_size: int = 20) -> None:
        if not _is_real(l2) or not math.isfinite(l2) or l2 < 0:
            raise ValueError(f"l2 must be a non-negative number (the L2 penalty strength), got {l2!r}")
        if not _is_real(tol) or not tol > 0:
            raise ValueError(f"tol must be a positive number (gradient tolerance), got {tol!r}")
        for name, value in (("max_iter", max_iter), ("history_size", history_size)):
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.l2, self.tol = float(l2), float(tol)
        self.max_iter, self.history_size = max_iter, history_size
        self.coef_ = self.intercept_ = None
        self.n_iter_, self.grad_max_, self.converged_ = 0, math.nan, False

    @property
    def num_features(self) -> int:
        """Number of features V seen in fit."""
        self._check_fitted()
        return self.coef_.shape[0]

    def fit(self, X: torch.Tensor, y) -> LogisticRegression:
        """Minimise Eq. (eq-gd-lr-obj) with L-BFGS until max |gradient| / N <= tol."""
        X = _check_X(X)
        y = _check_labels(y, X.shape[0], fitting=True).to(DTYPE)
        design = _Design(X)
        w = torch.zeros(X.shape[1], dtype=DTYPE, requires_grad=True)
        b = torch.zeros((), dtype=DTYPE, requires_grad=True)
        opt = torch.optim.LBFGS(
            [w, b], lr=1.0, max_iter=self.max_iter, max_eval=2 * self.max_iter,
            tolerance_grad=self.tol * X.shape[0], tolerance_change=0.0, history_size=self.history_size,
            line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            with torch.no_grad():
                loss, w.grad, b.grad = self._loss_and_grad(design, y, w, b)
            return loss

        opt.step(closure)
        with torch.no_grad():
            _, gw, gb = self._loss_and_grad(design, y, w, b)
        self.coef_, self.intercept_ = w.detach(), b.detach()
        self.n_iter_ = opt.state[opt.param_groups[0]["params"][0]].get("n_iter", 0)
        self.grad_max_ = max(gw.abs().max().item() if gw.numel() else 0.0, abs(gb.item()))
        self.converged_ = self.grad_max_ <= self.tol * X.shape[0]
        if not self.converged_:
            warnings.warn(
                f"LogisticRegression stopped after {self.n_iter_} iterations with max |gradient| "
                f"{self.grad_max_:.3g} > tol * N = {self.tol * X.shape[0]:.3g}; raise max_iter, "
                "loosen tol (float64 limits how small the gradient can get), or raise l2 "
                "(with l2=0 and separable data the optimum is at infinity)", RuntimeWarning, stacklevel=2)
        return self

    def _loss_and_grad(self, design: _Design, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
        """Eq. (eq-gd-lr-obj) and its gradient, Eq. (eq-gd-lr-grad)."""
        z = design.mv(w) + b  # (N,)
        loss = (F.softplus(z) - y * z).sum() + 0.5 * self.l2 * (w * w).sum()
        residual = torch.sigmoid(z) - y  # p(y=1 | x_i) - y_i
        return loss, design.rmv(residual) + self.l2 * w, residual.sum()

    def log_odds(self, X: torch.Tensor) -> torch.Tensor:
        """w . x + b for each row of X, shape (N,)."""
        X = self._check_predict_X(X)
        return X @ self.coef_ + self.intercept_

    def linear_form(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(w, b), the fitted weights and bias."""
        self._check_fitted()
        return self.coef_, self.intercept_

    def objective(self, X: torch.Tensor, y, weights: torch.Tensor | None = None,
                  bias: torch.Tensor | float | None = None) -> float:
        """Eq. (eq-gd-lr-obj) at (weights, bias); by default at the fitted (coef_, intercept_)."""
        if weights is None or bias is None:
            self._check_fitted()
        w = self.coef_ if weights is None else torch.as_tensor(weights, dtype=DTYPE)
        b = self.intercept_ if bias is None else torch.as_tensor(bias, dtype=DTYPE)
        X = _check_X(X, num_features=w.shape[0])
        y = _check_labels(y, X.shape[0])
        nll = -conditional_log_likelihood(X @ w + b, y)
        return nll + 0.5 * self.l2 * (w * w).sum().item()


# ------------------------------------------------------------------------- metrics
def conditional_log_likelihood(log_odds: torch.Tensor, y) -> float:
    """sum_i log p(y_i | x_i) from log-odds z_i: log sigmoid(z_i) if y_i = 1, else log sigmoid(-z_i)."""
    z = torch.as_tensor(log_odds, dtype=DTYPE)
    if z.dim() != 1:
        raise ValueError(f"log_odds must be 1-D (one number per example), got shape {tuple(z.shape)}")
    y = _check_labels(y, z.shape[0])
    sign = 2 * y.to(DTYPE) - 1
    return F.logsigmoid(sign * z).sum().item()


def error_rate(predictions, y) -> float:
    """Fraction of predictions that differ from the labels y."""
    pred = torch.as_tensor(predictions)
    if pred.dim() != 1:
        raise ValueError(f"predictions must be 1-D, got shape {tuple(pred.shape)}")
    y = _check_labels(y, pred.shape[0])
    if pred.numel() == 0:
        raise ValueError("cannot compute an error rate on zero examples")
    return (pred.to(torch.int64) != y).to(DTYPE).mean().item()


# ------------------------------------------------------------------------- checks
def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of str, not one str; wrap it: [text]")
    texts = list(texts)
    bad = [t for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must all be str, got {bad[0]!r} ({type(bad[0]).__name__})")
    return texts


def _check_X(X: torch.Tensor, num_features: int | None = None) -> torch.Tensor:
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"X must be a torch.Tensor of shape (N, V) (e.g. from BagOfChars.transform), "
                        f"got {type(X).__name__}")
    if X.dim() != 2:
        raise ValueError(f"X must be 2-D (N examples, V features), got shape {tuple(X.shape)}")
    if X.layout not in (torch.strided, torch.sparse_csr, torch.sparse_coo):
        raise ValueError(f"X must be dense, sparse CSR or sparse COO, got layout {X.layout}")
    if num_features is not None and X.shape[1] != num_features:
        raise ValueError(f"X has {X.shape[1]} features but the model was fitted with {num_features}; "
                         "transform the texts with the same fitted BagOfChars")
    return X.to(DTYPE)


def _check_labels(y, n: int, fitting: bool = False) -> torch.Tensor:
    labels = torch.as_tensor(y)
    if labels.dim() != 1:
        raise ValueError(f"y must be 1-D (one label per example), got shape {tuple(labels.shape)}")
    if labels.shape[0] != n:
        raise ValueError(f"X has {n} rows but y has {labels.shape[0]} labels; pass one label per row")
    if labels.is_floating_point() and not torch.equal(labels, labels.round()):
        raise ValueError("labels must be 0 or 1, got non-integer values")
    labels = labels.to(torch.int64)
    bad = sorted(set(labels.tolist()) - {0, 1})
    if bad:
        raise ValueError(f"labels must be 0 or 1, got {bad[:5]}")
    if fitting:
        if n == 0:
            raise ValueError("cannot fit on zero examples; pass a non-empty X and y")
        if labels.min() == labels.max():
            raise ValueError(f"y contains only the label {labels[0].item()}; fitting needs both 0 and 1")
    return labels


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)
