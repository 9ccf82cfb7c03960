// Slide navigation: one slide at a time, keys / clicks / buttons, the URL hash keeps the slide (#5).
(function () {
  const slides = Array.from(document.querySelectorAll('.slide'));
  const counter = document.getElementById('slide-number');
  const bar = document.getElementById('progress');
  let cur = -1;

  // shrink a formula wider than the slide on its own; then shrink the whole slide's text until it
  // fits (wrapped text gets shorter too); scroll if even that fails
  function fit(slide) {
    const content = slide.querySelector('.content');
    if (!content) return;
    const body = content.parentElement;
    slide.style.removeProperty('--fit');
    body.classList.remove('scroll');
    for (const m of content.querySelectorAll('.math.display')) {
      m.style.removeProperty('font-size');
      const inner = m.querySelector('mjx-math');
      const w = inner ? inner.getBoundingClientRect().width : 0;
      if (w > m.clientWidth + 2) m.style.fontSize = (0.98 * m.clientWidth / w).toFixed(3) + 'em';
    }
    // measured from the visible boxes: MathJax's hidden assistive MathML would inflate scrollHeight
    const over = function () {
      const box = body.getBoundingClientRect();
      let bottom = box.top;
      for (const el of content.children) bottom = Math.max(bottom, el.getBoundingClientRect().bottom);
      return (bottom - box.top) / box.height;
    };
    let f = 1;
    for (let i = 0; i < 6 && over() > 1.005 && f > 0.6; i++) {
      f = Math.max(0.6, f * Math.min(0.97, 1 / over()));
      slide.style.setProperty('--fit', f.toFixed(3));
    }
    if (over() > 1.005) body.classList.add('scroll');
  }
  window.deckFit = function () { slides.forEach(fit); };

  function show(n) {
    n = Math.max(0, Math.min(slides.length - 1, n));
    if (n === cur) return;
    if (cur >= 0) slides[cur].classList.remove('current');
    cur = n;
    slides[n].classList.add('current');
    counter.textContent = (n + 1) + ' / ' + slides.length;
    bar.style.width = ((n + 1) / slides.length * 100) + '%';
    if (location.hash !== '#' + (n + 1)) history.replaceState(null, '', '#' + (n + 1));
  }
  function fromHash() {
    const n = parseInt(location.hash.slice(1), 10);
    show(isNaN(n) ? 0 : n - 1);
  }

  document.addEventListener('keydown', function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const k = e.key;
    if (k === 'ArrowRight' || k === 'ArrowDown' || k === 'PageDown' || (k === ' ' && !e.shiftKey)) show(cur + 1);
    else if (k === 'ArrowLeft' || k === 'ArrowUp' || k === 'PageUp' || (k === ' ' && e.shiftKey)) show(cur - 1);
    else if (k === 'Home') show(0);
    else if (k === 'End') show(slides.length - 1);
    else return;
    e.preventDefault();
  });
  document.addEventListener('click', function (e) {
    if (e.target.closest('a, button, nav, pre, .table') || String(window.getSelection())) return;
    show(e.clientX < window.innerWidth / 4 ? cur - 1 : cur + 1);
  });
  document.getElementById('prev').addEventListener('click', function () { show(cur - 1); });
  document.getElementById('next').addEventListener('click', function () { show(cur + 1); });
  window.addEventListener('hashchange', fromHash);
  window.addEventListener('load', window.deckFit);
  window.addEventListener('beforeprint', window.deckFit);
  fromHash();
})();
