"""llmbook: the companion library of 《大规模语言模型：从理论到实践》.

One module a concept: ``data`` (corpora), ``tokenizers``, ``ngram``, ``gpt``, ``train``,
``pretrain`` and ``checkpoints`` (the shipped model), ``classifiers``, ``rnn`` (RNN/LSTM/GRU
from scratch), ``attention`` and ``transformer`` (the encoder-decoder from scratch),
``positional`` (sinusoidal encodings, RoPE), ``objectives`` (pretraining objectives),
``metrics`` (entropy, cross-entropy, perplexity), ``gradients`` (BPTT analysis, clipping),
``charlm`` (the character LSTM language model of section 5.1), ``mt``, ``decoding`` and ``bleu``
(translation data, greedy and beam search, BLEU), ``sampling`` (decoding strategies),
``qa``, ``qa_data`` and ``retrieval`` (extractive QA, BM25), ``autograd_ext`` (custom autograd
functions), ``datasets`` (PyTorch datasets of the corpora), ``distributed`` (DDP with torchrun),
``bpe`` (byte-level BPE), ``hf`` (conversion to Hugging Face GPT-2), ``scaling`` (scaling-law sweep
and fits), ``quantization`` and ``speculative`` (efficient inference), ``lora`` (LoRA),
``dpo`` (direct preference optimisation), ``utils`` (seeding, device, timing, showing source),
``plotting`` (CJK fonts, style), ``execute`` (re-run notebooks in place).
"""

import os

__version__ = "0.1.0"

# The same floating-point results on every x86-64 CPU with AVX2, Intel or AMD: without these,
# PyTorch's own kernels, MKL's matrix multiply and oneDNN pick AVX-512 code where the CPU has it,
# and its wider vectors add up sums in another order, so a training run drifts apart after a few
# steps and the stored outputs of the book no longer match. Set before torch runs its first
# kernel (``python -m llmbook.pretrain`` imports this first; notebooks and tests get them from
# ``llmbook.execute.NOTEBOOK_ENV``). Defaults only: a variable already set is left as it is.
CPU_KERNEL_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
for _key, _value in CPU_KERNEL_ENV.items():
    os.environ.setdefault(_key, _value)
