import math
import random
import warnings

import pytest
import torch
import torch.nn.functional as F

from llmbook import classifiers as C
from llmbook.classifiers import UNK, BagOfChars, LogisticRegression, MultinomialNaiveBayes

TOY = ["好好好", "好看", "差", "很差差", "看"]  # labels below: 1 1 0 0 1
TOY_Y = [1, 1, 0, 0, 1]


def random_problem(seed: int = 0, n: int = 60, v: int = 6, dense: bool = False):
    """Texts over 'abcdef' whose label depends (noisily) on a minus f counts."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        t = "".join(rng.choices("abcdef"[:v], k=rng.randint(1, 8)))
        score = t.count("a") - t.count("f") + rng.gauss(0, 1)
        texts.append(t)
        labels.append(int(score > 0))
    X = BagOfChars(sparse=not dense).fit(texts).transform(texts)
    return X, torch.tensor(labels)


def dense_objective(X, y, w, b, l2):
    """Eq. (eq-gd-lr-obj) written independently, for autograd."""
    z = X @ w + b
    return F.binary_cross_entropy_with_logits(z, y.double(), reduction="sum") + 0.5 * l2 * w.dot(w)


# ------------------------------------------------------------------------- features
def test_bag_of_chars_counts_by_hand():
    bag = BagOfChars().fit(TOY)
    # counts: 好 4, 差 3, 看 2, 很 1 -> by descending frequency, <unk> first
    assert bag.feature_names == (UNK, "好", "差", "看", "很")
    assert bag.num_features == 5
    X = bag.transform(["好看好", "你好", ""])
    assert X.layout == torch.sparse_csr and X.dtype == torch.float64
    expected = torch.tensor([[0, 2, 0, 1, 0], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.float64)
    assert torch.equal(X.to_dense(), expected)
    dense = BagOfChars(sparse=False).fit(TOY).transform(["好看好", "你好", ""])
    assert dense.layout == torch.strided and torch.equal(dense, expected)
    assert torch.equal(BagOfChars().fit_transform(TOY).to_dense(), bag.transform(TOY).to_dense())
    assert bag.transform([]).shape == (0, 5)


def test_bag_of_chars_min_freq_and_max_features():
    assert BagOfChars(min_freq=2).fit(TOY).feature_names == (UNK, "好", "差", "看")
    assert BagOfChars(max_features=3).fit(TOY).feature_names == (UNK, "好", "差")
    X = BagOfChars(max_features=3).fit(TOY).transform(["很看好"])
    assert X.to_dense().tolist() == [[2.0, 1.0, 0.0]]  # 很 and 看 are unknown


def test_bag_of_chars_vocabulary_does_not_depend_on_order():
    assert BagOfChars().fit(TOY).feature_names == BagOfChars().fit(TOY[::-1]).feature_names


def test_bag_of_chars_bad_input():
    with pytest.raises(ValueError, match="texts is empty"):
        BagOfChars().fit([])
    with pytest.raises(RuntimeError, match="not fitted yet; call fit"):
        BagOfChars().transform(["a"])
    with pytest.raises(TypeError, match="not one str"):
        BagOfChars().fit("abc")
    with pytest.raises(TypeError, match="must all be str"):
        BagOfChars().fit(["a", 3])
    with pytest.raises(ValueError, match="min_freq must be a positive int"):
        BagOfChars(min_freq=0)
    with pytest.raises(ValueError, match="max_features must be None or an int >= 2"):
        BagOfChars(max_features=1)


def test_select_rows():
    X = BagOfChars().fit(TOY).transform(TOY)
    index = [4, 0, 0, 2]
    sub = C.select_rows(X, index)
    assert sub.layout == torch.sparse_csr
    assert torch.equal(sub.to_dense(), X.to_dense()[index])
    assert torch.equal(C.select_rows(X.to_dense(), index), X.to_dense()[index])
    assert torch.equal(C.select_rows(X.to_sparse_coo(), index).to_dense(), X.to_dense()[index])
    assert C.select_rows(X, []).shape == (0, X.shape[1])
    with pytest.raises(IndexError, match="X has 5 rows"):
        C.select_rows(X, [5])


# ------------------------------------------------------------------------- naive Bayes
def test_naive_bayes_parameters_equal_hand_counts():
    bag = BagOfChars().fit(TOY)  # columns <unk> 好 差 看 很
    nb = MultinomialNaiveBayes(alpha=0.5).fit(bag.transform(TOY), TOY_Y)
    assert nb.class_count_.tolist() == [2.0, 3.0]
    # class 0: 差 差差 很 -> 差 3, 很 1; class 1: 好好好 好看 看 -> 好 4, 看 2
    assert nb.feature_count_.tolist() == [[0, 0, 3, 0, 1], [0, 4, 0, 2, 0]]
    assert torch.allclose(nb.log_prior_.exp(), torch.tensor([2 / 5, 3 / 5], dtype=torch.float64))
    theta0 = torch.tensor([0.5, 0.5, 3.5, 0.5, 1.5], dtype=torch.float64) / (4 + 0.5 * 5)
    theta1 = torch.tensor([0.5, 4.5, 0.5, 2.5, 0.5], dtype=torch.float64) / (6 + 0.5 * 5)
    torch.testing.assert_close(nb.log_theta_.exp(), torch.stack([theta0, theta1]))
    torch.testing.assert_close(nb.log_theta_.exp().sum(1), torch.ones(2, dtype=torch.float64))


def test_naive_bayes_joint_likelihood_and_posterior_by_hand():
    bag = BagOfChars().fit(TOY)
    nb = MultinomialNaiveBayes(alpha=1.0).fit(bag.transform(TOY), TOY_Y)
    theta = nb.log_theta_.exp()
    i = {c: j for j, c in enumerate(bag.feature_names)}
    # p("好看好", y) = pi_y * theta_y(好)^2 * theta_y(看): one factor per character
    joint = [(n / 5) * theta[y, i["好"]] ** 2 * theta[y, i["看"]] for y, n in [(0, 2), (1, 3)]]
    jll = nb.joint_log_likelihood(bag.transform(["好看好"]))[0]
    torch.testing.assert_close(jll, torch.log(torch.stack(joint)))
    posterior = joint[1] / (joint[0] + joint[1])
    torch.testing.assert_close(nb.predict_proba(bag.transform(["好看好"]))[0], posterior)


@pytest.mark.parametrize("dense", [False, True])
def test_naive_bayes_linear_form_gives_its_log_odds(dense):
    X, y = random_problem(seed=1, dense=dense)
    nb = MultinomialNaiveBayes(alpha=0.7).fit(X, y)
    w, b = nb.linear_form()
    z = X @ w + b  # Eq. (eq-gd-nb-linear)
    p = nb.predict_proba(X)  # Bayes' rule on the joint likelihoods
    torch.testing.assert_close(z, torch.log(p) - torch.log1p(-p), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(z, nb.log_odds(X), rtol=1e-12, atol=1e-12)
    assert torch.equal(nb.predict(X), (p > 0.5).long())
    assert nb.num_features == X.shape[1]


def test_naive_bayes_dense_and_sparse_agree():
    Xs, y = random_problem(seed=2)
    a = MultinomialNaiveBayes().fit(Xs, y)
    b = MultinomialNaiveBayes().fit(Xs.to_dense(), y)
    torch.testing.assert_close(a.log_theta_, b.log_theta_)
    torch.testing.assert_close(a.predict_proba(Xs), b.predict_proba(Xs.to_dense()))


def test_naive_bayes_bad_input():
    X = BagOfChars().fit(TOY).transform(TOY)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        MultinomialNaiveBayes(alpha=0)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        MultinomialNaiveBayes(alpha=-1.0)
    with pytest.raises(RuntimeError, match="not fitted yet; call fit"):
        MultinomialNaiveBayes().predict(X)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        MultinomialNaiveBayes().linear_form()
    with pytest.raises(ValueError, match="X has 5 rows but y has 4 labels"):
        MultinomialNaiveBayes().fit(X, TOY_Y[:4])
    with pytest.raises(ValueError, match=r"labels must be 0 or 1, got \[2\]"):
        MultinomialNaiveBayes().fit(X, [1, 0, 2, 0, 1])
    with pytest.raises(ValueError, match="labels must be 0 or 1, got non-integer"):
        MultinomialNaiveBayes().fit(X, [1.0, 0.0, 0.5, 0.0, 1.0])
    with pytest.raises(ValueError, match="only the label 1; fitting needs both"):
        MultinomialNaiveBayes().fit(X, [1] * 5)
    with pytest.raises(ValueError, match="zero examples"):
        MultinomialNaiveBayes().fit(X.to_dense()[:0], [])
    with pytest.raises(ValueError, match="non-negative counts"):
        MultinomialNaiveBayes().fit(-X.to_dense(), TOY_Y)
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        MultinomialNaiveBayes().fit([[1, 0]], [1])
    with pytest.raises(ValueError, match="X must be 2-D"):
        MultinomialNaiveBayes().fit(torch.ones(5), TOY_Y)
    nb = MultinomialNaiveBayes().fit(X, TOY_Y)
    with pytest.raises(ValueError, match="X has 3 features but the model was fitted with 5"):
        nb.predict(torch.ones(2, 3))


# ------------------------------------------------------------------------- logistic regression
@pytest.mark.parametrize("dense", [False, True])
def test_logistic_regression_gradient_vanishes_at_optimum(dense):
    X, y = random_problem(seed=3, dense=dense)
    lr = LogisticRegression(l2=0.5).fit(X, y)  # stops when max |gradient| <= tol * N = 1e-7 * N
    assert lr.converged_ and lr.n_iter_ > 0 and lr.grad_max_ <= 1e-7 * X.shape[0]
    w = lr.coef_.clone().requires_grad_(True)
    b = lr.intercept_.clone().requires_grad_(True)
    dense_objective(X.to_dense(), y, w, b, 0.5).backward()  # autograd, independent of fit
    assert w.grad.abs().max() <= 1e-7 * len(y) and b.grad.abs() <= 1e-7 * len(y)
    w0 = torch.zeros_like(w, requires_grad=True)
    dense_objective(X.to_dense(), y, w0, torch.tensor(0.0, dtype=torch.float64), 0.5).backward()
    assert w0.grad.abs().max() > 1e5 * w.grad.abs().max()  # far below where it started
    assert lr.objective(X, y) == pytest.approx(dense_objective(X.to_dense(), y, w, b, 0.5).item(), rel=1e-12)
    # a perturbed point is worse: the optimum is a minimum
    assert lr.objective(X, y, lr.coef_ + 0.01, lr.intercept_) > lr.objective(X, y)


def test_logistic_regression_analytic_gradient_matches_autograd_anywhere():
    X, y = random_problem(seed=4, dense=True)
    lr = LogisticRegression(l2=2.0)
    g = torch.Generator().manual_seed(0)
    w = torch.randn(X.shape[1], generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    loss = dense_objective(X, y, w, b, 2.0)
    loss.backward()
    ours, gw, gb = lr._loss_and_grad(C._Design(X), y.double(), w.detach(), b.detach())
    torch.testing.assert_close(ours, loss.detach())
    torch.testing.assert_close(gw, w.grad)
    torch.testing.assert_close(gb, b.grad)


def test_logistic_regression_matches_closed_form_on_two_points():
    # x = +1 (y = 1) and x = -1 (y = 0) are separable; with L2 the optimum is finite.
    # By symmetry b = 0, and dJ/dw = -2 (1 - sigmoid(w)) + l2 w = 0, i.e. l2 w = 2 sigmoid(-w).
    X = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    for l2 in [0.1, 1.0, 5.0]:
        lo, hi = 0.0, 100.0
        for _ in range(200):  # bisection on the monotone function l2 w - 2 sigmoid(-w)
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if l2 * mid - 2 / (1 + math.exp(mid)) < 0 else (lo, mid)
        lr = LogisticRegression(l2=l2, tol=1e-12).fit(X, [1, 0])
        assert lr.coef_.item() == pytest.approx(lo, abs=1e-8)
        assert lr.intercept_.item() == pytest.approx(0.0, abs=1e-8)


def test_logistic_regression_matches_newton_on_a_small_problem():
    X, y = random_problem(seed=5, n=40, dense=True)
    l2 = 0.3
    A = torch.cat([X, torch.ones(len(X), 1, dtype=torch.float64)], 1)  # bias as a last column
    reg = torch.full((A.shape[1],), l2, dtype=torch.float64)
    reg[-1] = 0.0
    theta = torch.zeros(A.shape[1], dtype=torch.float64)
    for _ in range(50):  # plain Newton's method on the same objective
        p = torch.sigmoid(A @ theta)
        grad = A.T @ (p - y) + reg * theta
        hess = A.T @ (A * (p * (1 - p))[:, None]) + torch.diag(reg)
        theta = theta - torch.linalg.solve(hess, grad)
    assert grad.abs().max() < 1e-12  # Newton has converged to machine precision
    lr = LogisticRegression(l2=l2).fit(X, y)
    torch.testing.assert_close(lr.coef_, theta[:-1], rtol=0, atol=1e-5)
    torch.testing.assert_close(lr.intercept_, theta[-1], rtol=0, atol=1e-5)


def test_logistic_regression_is_deterministic_and_predicts_by_sign():
    X, y = random_problem(seed=6)
    a = LogisticRegression(l2=1.0).fit(X, y)
    b = LogisticRegression(l2=1.0).fit(X, y)
    assert torch.equal(a.coef_, b.coef_) and torch.equal(a.intercept_, b.intercept_)
    z = a.log_odds(X)
    torch.testing.assert_close(z, X @ a.coef_ + a.intercept_)
    torch.testing.assert_close(a.predict_proba(X), torch.sigmoid(z))
    assert torch.equal(a.predict(X), (z > 0).long())
    w, bias = a.linear_form()
    assert torch.equal(w, a.coef_) and torch.equal(bias, a.intercept_)
    assert a.num_features == X.shape[1]


def test_logistic_regression_beats_naive_bayes_on_its_own_objective():
    # every naive Bayes model is a point (w, b) of the same family, Eq. (eq-gd-nb-linear)
    X, y = random_problem(seed=7, n=80)
    lr = LogisticRegression(l2=1.0).fit(X, y)
    w, b = MultinomialNaiveBayes().fit(X, y).linear_form()
    assert lr.objective(X, y) < lr.objective(X, y, w, b)


def test_logistic_regression_warns_when_not_converged():
    X = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)  # separable, no penalty: no optimum
    with pytest.warns(RuntimeWarning, match="stopped after 5 iterations"):
        lr = LogisticRegression(l2=0.0, max_iter=5).fit(X, [1, 0])
    assert not lr.converged_


def test_logistic_regression_bad_input():
    X = BagOfChars().fit(TOY).transform(TOY)
    with pytest.raises(ValueError, match="l2 must be a non-negative number"):
        LogisticRegression(l2=-0.1)
    with pytest.raises(ValueError, match="tol must be a positive number"):
        LogisticRegression(tol=0)
    with pytest.raises(ValueError, match="max_iter must be a positive int"):
        LogisticRegression(max_iter=0)
    with pytest.raises(RuntimeError, match="LogisticRegression is not fitted yet; call fit"):
        LogisticRegression().predict_proba(X)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        LogisticRegression().objective(X, TOY_Y)
    with pytest.raises(ValueError, match="X has 5 rows but y has 6 labels"):
        LogisticRegression().fit(X, TOY_Y + [1])
    with pytest.raises(ValueError, match=r"labels must be 0 or 1, got \[-1\]"):
        LogisticRegression().fit(X, [1, -1, 0, 0, 1])
    with pytest.raises(ValueError, match="only the label 0"):
        LogisticRegression().fit(X, [0] * 5)
    with pytest.raises(ValueError, match="y must be 1-D"):
        LogisticRegression().fit(X, [[1]] * 5)


# ------------------------------------------------------------------------- metrics
def test_conditional_log_likelihood_and_error_rate():
    z = torch.tensor([2.0, -1.0, 0.0], dtype=torch.float64)
    y = [1, 1, 0]
    expected = math.log(1 / (1 + math.exp(-2))) + math.log(1 / (1 + math.exp(1))) + math.log(0.5)
    assert C.conditional_log_likelihood(z, y) == pytest.approx(expected, rel=1e-12)
    assert C.error_rate(torch.tensor([1, 0, 0]), y) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="X has 3 rows but y has 2 labels"):
        C.conditional_log_likelihood(z, [1, 0])
    with pytest.raises(ValueError, match="log_odds must be 1-D"):
        C.conditional_log_likelihood(z[None], y)
    with pytest.raises(ValueError, match="zero examples"):
        C.error_rate(torch.tensor([], dtype=torch.int64), [])


def test_no_warnings_from_sparse_features():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X = BagOfChars().fit(TOY).transform(TOY)
        LogisticRegression().fit(C.select_rows(X, [0, 2, 4]), [1, 0, 1]).predict(X)
        MultinomialNaiveBayes().fit(X, TOY_Y).predict(X)
