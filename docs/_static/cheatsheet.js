// A formula in running text cannot break across lines (MathJax 3 does not break lines), so
// one wider than its paragraph would widen the whole column on a phone. Once MathJax has
// typeset the page, and again when the window changes size, each such formula is marked;
// cheatsheet.css makes a marked one scroll inside its own box, with a shadow at the edge
// that hides more. Formulas that fit are left exactly as MathJax set them.
(() => {
  "use strict";
  const WIDE = "cheatsheet-wide-math";

  function markWideFormulas() {
    for (const formula of document.querySelectorAll('mjx-container[jax="CHTML"]:not([display="true"])')) {
      formula.classList.remove(WIDE);  // measure at the width MathJax gave it
      let block = formula.parentElement;  // the paragraph, list item or cell the formula sits in
      while (block && getComputedStyle(block).display.startsWith("inline")) block = block.parentElement;
      if (block && formula.getBoundingClientRect().width > block.clientWidth + 1) {
        formula.classList.add(WIDE);
      }
    }
  }

  let pending = 0;
  function soon() {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(markWideFormulas);
  }

  window.addEventListener("load", () => {
    const typeset = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
    (typeset || Promise.resolve()).then(markWideFormulas);
  });
  window.addEventListener("resize", soon);
})();
