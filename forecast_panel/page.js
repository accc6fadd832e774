// Page fix-ups run once the document is ready (the vanilla template's markup is Panel's): landmarks
// for assistive technology, a level-one heading, keyboard access to the controls the template
// and Bokeh's tabs draw as plain elements (the sidebar button, the tab headers), and the busy cue:
// a change of a control in the sidebar dims the page until the server's redraw clears it (or 15 s).
const main = document.getElementById("main")
if (main) { main.setAttribute("role", "main") }
const sidebar = document.getElementById("sidebar")
if (sidebar) { sidebar.setAttribute("role", "region"); sidebar.setAttribute("aria-label", "Forecast selection") }
for (const list of document.querySelectorAll("#sidebar > ul")) { list.setAttribute("role", "none") }
const title = document.querySelector("#header .app-header")
if (title) { title.setAttribute("role", "heading"); title.setAttribute("aria-level", "1") }
function operable(element, label, role) {
  if (element.hasAttribute("data-fp-keys")) { return }
  element.setAttribute("data-fp-keys", "")
  element.setAttribute("tabindex", "0")  // Bokeh's tab headers have it, without a key handler
  element.setAttribute("role", role)
  if (label) { element.setAttribute("aria-label", label) }
  element.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); element.click() }
  })
}
const button = document.getElementById("sidebar-button")
if (button) { operable(button, "Show or hide the forecast selection", "button") }
const watched = new WeakSet()
function mark(tab) {
  operable(tab, null, "tab")
  tab.parentElement.setAttribute("role", "tablist")
  tab.setAttribute("aria-selected", String(tab.classList.contains("bk-active")))
}
function tabs(root) {
  for (const element of root.querySelectorAll("*")) {
    if (element.classList.contains("bk-tab")) { mark(element); watch(root) }
    if (element.shadowRoot) { tabs(element.shadowRoot) }
  }
}
// Bokeh draws the tab headers again when the tabs change or the layout moves: an observer on the
// tree that holds them marks the new ones before the browser paints (a plain element with a
// tabindex inside a tablist is what screen readers cannot name).
function watch(root) {
  if (watched.has(root)) { return }
  watched.add(root)
  new MutationObserver(() => root.querySelectorAll(".bk-tab").forEach(mark)).observe(root, {childList: true, subtree: true, attributes: true, attributeFilter: ["class"]})
}
tabs(document)
// tab headers drawn in a tree not seen yet (a tab shown for the first time): look again after a
// click or a key, and every half second
for (const kind of ["click", "keyup"]) {
  document.addEventListener(kind, () => { setTimeout(() => tabs(document), 0) }, true)
}
setInterval(() => tabs(document), 500)

function busy() {
  document.body.classList.add("fp-busy")
  clearTimeout(window.fpBusyTimer)
  window.fpBusyTimer = setTimeout(() => document.body.classList.remove("fp-busy"), 15000)
}
function inControls(event) { return event.composedPath().some((node) => node.id === "sidebar") }
document.addEventListener("input", (event) => { if (inControls(event)) { busy() } }, true)
document.addEventListener("click", (event) => {
  const button = event.composedPath().find((node) => node.tagName === "BUTTON")
  const group = button && button.parentElement && button.parentElement.classList.contains("bk-btn-group")
  if (group && !button.classList.contains("bk-active") && inControls(event)) { busy() }
}, true)
