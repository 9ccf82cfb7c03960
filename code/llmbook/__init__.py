"""llmbook: the companion library of 《大规模语言模型：从理论到实践》.

One module a concept: ``data`` (corpora), ``tokenizers``, ``ngram``, ``utils``
(seeding, device, timing, showing source), ``plotting`` (CJK fonts, style),
``execute`` (re-run notebooks in place).
"""

__version__ = "0.1.0"
