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

__version__ = "0.1.0"
