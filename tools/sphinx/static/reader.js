// The book's additions to the theme's scripts (tools/sphinx/reader_site.py says why).

// sphinx-togglebutton opens a solution only when the click lands on the bar itself or on its
// chevron: a click on the "Exercise (...)" link in the bar followed the link and threw
// "ReferenceError: button is not defined". Every click inside the bar now toggles the box.
document.addEventListener(
  "click",
  (event) => {
    const title = event.target.closest && event.target.closest(".admonition.toggle > .admonition-title");
    if (!title || event.target === title) return;
    const button = title.querySelector(":scope > .toggle-button");
    if (!button || event.target === button) return;
    event.preventDefault();
    event.stopPropagation();
    button.click();
  },
  true,
);

// sphinx-togglebutton names every toggle "Toggle hidden content", so a list of a page's buttons
// cannot tell one solution from another. Each is named by its bar instead: "Solution to Exercise
// (Break the mask)"; whether it is open is its aria-expanded. togglebutton.js adds the buttons on
// DOMContentLoaded, in a listener registered before this deferred script's.
function nameToggleButtons() {
  document.querySelectorAll(".admonition.toggle > .admonition-title > .toggle-button").forEach((button) => {
    const bar = button.parentElement.cloneNode(true);
    bar.querySelectorAll(".toggle-button").forEach((copy) => copy.remove());
    const name = bar.textContent.replace(/\s+/g, " ").trim();
    if (name) button.setAttribute("aria-label", name);
  });
}
document.addEventListener("DOMContentLoaded", nameToggleButtons);
window.addEventListener("load", nameToggleButtons);

// Scrollable boxes (wide outputs, figures shown at a legible width on a phone) take keyboard
// focus, so that they can be scrolled without a mouse.
function focusableScrollBoxes() {
  document.querySelectorAll("div.cell_output, div.cell_output figure, div.cell_output pre").forEach((box) => {
    if (box.scrollWidth > box.clientWidth + 1) {
      box.tabIndex = 0;
    } else if (box.tabIndex === 0 && box.hasAttribute("data-reader-scroll")) {
      box.removeAttribute("tabindex");
    }
    if (box.tabIndex === 0) box.setAttribute("data-reader-scroll", "");
  });
}
window.addEventListener("load", focusableScrollBoxes);
window.addEventListener("resize", focusableScrollBoxes);

// A theme tooltip ("Toggle primary sidebar") stayed on screen after the sidebar dialog closed,
// because the theme gives focus back to the button. Hide the header buttons' tooltips then.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("dialog").forEach((dialog) => {
    dialog.addEventListener("close", () => {
      document.querySelectorAll(".bd-header-article [data-bs-toggle='tooltip']").forEach((element) => {
        const tooltip = window.bootstrap && window.bootstrap.Tooltip.getInstance(element);
        if (tooltip) tooltip.hide();
      });
    });
  });
});
