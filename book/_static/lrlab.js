/* The course's script (added to every page by book/_ext/page_hygiene.py), checked by
   tests/test_browser.py (axe-core's scrollable-region-focusable, impact serious).

   A box that scrolls (a code block, a cell's output, a wide table) must take the keyboard's
   focus, or a reader without a mouse cannot scroll it. The theme (pydata-sphinx-theme) gives
   such boxes tabindex="0" when the page loads, on a resize and when elements are added, but not
   when a folded solution (sphinx-togglebutton) or a hidden cell (<details>) opens: the boxes inside
   keep the tab stop they had while folded, and a wide table in an opened solution could not be
   scrolled from the keyboard. This recomputes the tab stops, with the theme's own rule and
   selectors, after anything in the page's content is unfolded. */
(() => {
  const SCROLLING = ["pre", ".nboutput > .output_area", ".cell_output > .output",
                     ".jp-RenderedHTMLCommon", ".pst-scrollable-table-container"].join(", ");
  const updateTabStops = () => {
    document.querySelectorAll(SCROLLING).forEach((box) => {
      box.tabIndex = box.scrollWidth > box.clientWidth || box.scrollHeight > box.clientHeight ? 0 : -1;
    });
  };
  let pending = false;
  const schedule = () => {  // once per frame, after the unfolded content is laid out
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; updateTabStops(); });
  };
  const watch = () => {
    const main = document.getElementById("main-content");
    if (!main) return;
    // sphinx-togglebutton folds and unfolds an item by its class (toggle-hidden)
    new MutationObserver(schedule).observe(main, {subtree: true, attributes: true, attributeFilter: ["class"]});
    main.addEventListener("toggle", schedule, true);  // <details> (hidden cells); toggle does not bubble
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watch);
  else watch();
})();
