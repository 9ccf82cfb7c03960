"""Helpers of scripts/build_slides.py (deck.css and deck.js are inlined into every deck)."""
