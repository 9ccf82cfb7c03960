"""llmbook: the companion library of 《大规模语言模型：从理论到实践》.

One module a concept: ``data`` (corpora), ``tokenizers``, ``ngram``, ``gpt``, ``train``,
``pretrain`` and ``checkpoints`` (the shipped model), ``classifiers``, ``rnn`` (RNN/LSTM/GRU
from scratch), ``attention`` and ``transformer`` (the encoder-decoder from scratch),
``positional`` (sinusoidal encodings, RoPE), ``objectives`` (pretraining objectives),
``metrics`` (entropy, cross-entropy, perplexity), ``gradients`` (BPTT analysis, clipping),
``utils`` (seeding, device, timing, showing source), ``plotting`` (CJK fonts, style),
``execute`` (re-run notebooks in place).
"""

__version__ = "0.1.0"
