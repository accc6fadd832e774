// The meteogram's hover readout: every shown panel's boxes at the time under the pointer (or the
// tap), and the probability strip's cells of that day. Runs in the browser only (the span and the
// readout are not synced to the server). Times are wall times drawn as if UTC, so they are
// formatted with the UTC getters.
const x = cb_obj.x
if (x == null || !isFinite(x)) { return }
span.location = x
const HOUR = 3600e3
const n = Math.max(1, legend.data.label.length / 2)
const fmt = (v) => (Math.round(v * 10) / 10).toFixed(1).replace("-", "\u2212")
const weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const d = new Date(x)
const pad = (v) => String(v).padStart(2, "0")
const day = `${weekdays[d.getUTCDay()]} ${d.getUTCDate()} ${months[d.getUTCMonth()]}`
const lines = []
let daily = true
let shownIndex = 0
for (let p = 0; p < shown.length; p++) {
  if (!shown[p].visible) { continue }
  const words = (meta.data.words[shownIndex] || "").split("/")
  const parts = []
  for (const [source, limit, isDaily] of [[steps[p], 2 * HOUR, false], [days[p], 12 * HOUR, true]]) {
    const t = source.data.t, k = source.data.k
    const best = {}
    for (let i = 0; i < t.length; i++) {
      const distance = Math.abs(t[i] - x)
      if (distance <= limit && (best[k[i]] === undefined || distance < best[k[i]][0])) { best[k[i]] = [distance, i] }
    }
    for (const code of Object.keys(best).map(Number).sort((a, b) => (a % n) - (b % n) || a - b)) {
      const i = best[code][1]
      if (!isDaily) { daily = false }
      const word = isDaily ? (words[code >= n ? 1 : 0] || "") + " " : ""
      const data = source.data
      parts.push(`<span style="color:${legend.data.color[code]}">\u25A0</span> ${legend.data.label[code % n]} ${word}` +
        `<b>${fmt(data.median[i])}</b> (${fmt(data.q10[i])} \u2013 ${fmt(data.q90[i])})`)
    }
  }
  if (parts.length) { lines.push(`${meta.data.title[shownIndex]} (${meta.data.unit[shownIndex]}): ${parts.join(" \u00B7 ")}`) }
  shownIndex++
}
const cells = []
for (let i = 0; i < strip.data.x.length; i++) {
  if (Math.abs(strip.data.x[i] - x) <= 12 * HOUR) { cells.push(`${rows.data.label[strip.data.y[i]]}: <b>${strip.data.label[i]} %</b>`) }
}
if (cells.length) { lines.push(cells.join(" \u00B7 ")) }
const when = daily ? day : `${day} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`
readout.text = lines.length ? `<b>${when}</b> \u2014 median (q10 \u2013 q90)<br>${lines.join("<br>")}` : ""
