// Charts of /statistiques. Each chart slot ([data-chart]) gets the @gouvfr/dsfr-chart element that the
// JSON data block "<id>-chart" describes (tag and attributes, computed by opendata/views.py). No inline
// script, so the CSP keeps script-src to 'self' and a nonce; without JavaScript the slots stay hidden and
// the tables that follow them are the figures.

// dsfr-chart's maps draw each area as an SVG path of class "FR-<code>".
const AREA_CLASS = /(?:^|\s)FR-([0-9A-Z]{2,3})(?:\s|$)/;

function chartElement(spec) {
  const element = document.createElement(spec.tag);
  for (const [name, value] of Object.entries(spec.attrs)) {
    element.setAttribute(name, value);
  }
  return element;
}

// The région map drills down through the page's own address, filtered on the région: the same link as
// the région's row in the table (spec.drill maps the map's région codes to it), so the drilled-down view
// is shareable and reachable without the map, from the keyboard.
function drillDown(slot, links) {
  slot.addEventListener("click", (event) => {
    const area = event.target.closest("[class]");
    const match = area && AREA_CLASS.exec(area.getAttribute("class") || "");
    if (match && links[match[1]]) {
      window.location.assign(links[match[1]]);
    }
  });
}

// Marks a slot once its chart has drawn (a canvas for Chart.js, paths for a map): tests wait for it.
function watchRendering(slot, element) {
  const drawn = () => element.querySelector("canvas, svg path");
  const done = () => {
    slot.dataset.rendered = "true";
  };
  if (drawn()) {
    done();
    return;
  }
  const observer = new MutationObserver(() => {
    if (drawn()) {
      observer.disconnect();
      done();
    }
  });
  observer.observe(element, { childList: true, subtree: true });
}

for (const slot of document.querySelectorAll("[data-chart]")) {
  const source = document.getElementById(`${slot.dataset.chart}-chart`);
  if (!source) {
    continue;
  }
  const spec = JSON.parse(source.textContent);
  const element = chartElement(spec);
  // A canvas or an SVG of paths says nothing to a screen reader: the figure's caption points to the
  // table that follows, the accessible equivalent (dsfr-chart's own accessibility advice). On a wrapper:
  // dsfr-chart's components take no attribute they do not declare.
  const wrapper = document.createElement("div");
  wrapper.setAttribute("aria-hidden", "true");
  wrapper.append(element);
  slot.append(wrapper);
  slot.hidden = false;
  watchRendering(slot, element);
  if (Object.keys(spec.drill).length) {
    drillDown(slot, spec.drill);
  }
}
