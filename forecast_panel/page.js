// Page fix-ups run once the document is ready (the vanilla template's markup is Panel's): landmarks
// for assistive technology, a level-one heading, and keyboard access to the controls the template
// and Bokeh's tabs draw as plain elements (the sidebar button, the tab headers).
const main = document.getElementById("main")
if (main) { main.setAttribute("role", "main") }
const sidebar = document.getElementById("sidebar")
if (sidebar) { sidebar.setAttribute("role", "region"); sidebar.setAttribute("aria-label", "Forecast selection") }
for (const list of document.querySelectorAll("#sidebar > ul")) { list.setAttribute("role", "none") }
const title = document.querySelector("#header .app-header")
if (title) { title.setAttribute("role", "heading"); title.setAttribute("aria-level", "1") }
function operable(element, label, role) {
  if (element.hasAttribute("tabindex")) { return }
  element.setAttribute("tabindex", "0")
  element.setAttribute("role", role)
  if (label) { element.setAttribute("aria-label", label) }
  element.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); element.click() }
  })
}
const button = document.getElementById("sidebar-button")
if (button) { operable(button, "Show or hide the forecast selection", "button") }
function tabs(root) {
  for (const element of root.querySelectorAll("*")) {
    if (element.classList.contains("bk-tab")) { operable(element, null, "tab") }
    if (element.shadowRoot) { tabs(element.shadowRoot) }
  }
}
tabs(document)
setInterval(() => tabs(document), 1500)  // tab headers are drawn again when the tabs change
