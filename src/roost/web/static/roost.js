// Roost's progressive enhancement, loaded with `defer` from layout.html. Every page works
// without it: forms post and redirect, links navigate. Keep it modular: each feature is one
// self-contained function below that looks for its own elements (data-* attributes) and
// does nothing when they are absent, started from the list at the end. No inline scripts
// anywhere (the Content-Security-Policy forbids them). Live updates and loading on scroll
// are added by the timelines work.
"use strict";

// --- Timelines (pages/home.py, docs/web.md "Live updates") ------------------------------

// Turns a fetched HTML fragment into nodes without running anything in it (DOMParser
// documents are inert), to be moved into the page.
function parseFragment(html) {
  const parsed = new DOMParser().parseFromString(html, "text/html");
  return Array.from(parsed.body.childNodes);
}

// The composer's character counter: textareas with data-max-chars update the element
// their aria-describedby names.
function characterCounters(root) {
  for (const area of root.querySelectorAll("textarea[data-max-chars]")) {
    const counter = document.getElementById(area.getAttribute("aria-describedby"));
    const max = Number(area.dataset.maxChars);
    if (!counter || !max) continue;
    const update = () => {
      const left = max - Array.from(area.value).length;
      counter.textContent = left >= 0 ? `${left} characters left` : `${-left} characters too many`;
      counter.classList.toggle("over", left < 0);
    };
    area.addEventListener("input", update);
    update();
  }
}

// Older pages on scroll: when the "Older posts" link comes into view, its page's cards
// (`&fragment=1`) replace it, ending with the next link. Without JS the link just works.
function olderOnScroll(root) {
  const timeline = root.getElementById("timeline");
  if (!timeline || !("IntersectionObserver" in window)) return;
  let loading = false;
  const observer = new IntersectionObserver(async (entries) => {
    const entry = entries.find((seen) => seen.isIntersecting);
    if (!entry || loading) return;
    const pager = entry.target.closest(".pager");
    const url = new URL(entry.target.href, window.location.href);
    url.searchParams.set("fragment", "1");
    loading = true;
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      observer.unobserve(entry.target);
      pager.replaceWith(...parseFragment(await response.text()));
      watch();
    } finally {
      loading = false;
    }
  }, { rootMargin: "400px" });
  const watch = () => {
    const link = timeline.querySelector(".pager .older-link");
    if (link) observer.observe(link);
  };
  watch();
}

// Live home timeline: /home/stream sends status ids; each new card comes from
// /statuses/{id}/card (the one rendering path) and goes on top, announced politely.
function liveTimeline(root) {
  const timeline = root.querySelector("#timeline[data-stream]");
  if (!timeline || !("EventSource" in window)) return;
  const announcer = root.getElementById("live-status");
  const cardOf = (id) => timeline.querySelector(`[data-status-id="${CSS.escape(id)}"]`);
  const fetchCard = async (id) => {
    const response = await fetch(`/statuses/${encodeURIComponent(id)}/card`);
    if (!response.ok) return null;
    return parseFragment(await response.text()).find((node) => node.nodeType === 1) || null;
  };
  const stream = new EventSource(timeline.dataset.stream);
  stream.addEventListener("update", async (event) => {
    if (cardOf(event.data)) return;
    const card = await fetchCard(event.data);
    if (!card || cardOf(event.data)) return;
    timeline.prepend(card);
    if (announcer) {
      const name = card.querySelector(".status-display-name");
      announcer.textContent = `New post${name ? ` from ${name.textContent}` : ""}`;
    }
  });
  stream.addEventListener("status.update", async (event) => {
    const old = cardOf(event.data);
    const card = old && await fetchCard(event.data);
    if (card) old.replaceWith(card);
  });
  stream.addEventListener("delete", (event) => {
    for (const card of timeline.querySelectorAll(".status")) {
      if (card.dataset.statusId === event.data) card.remove();
    }
  });
  // Sent once the server listens: from then on no new post is missed (tests wait for it).
  stream.addEventListener("ready", () => { timeline.dataset.live = "connected"; });
}

(function roost() {
  const features = [characterCounters, olderOnScroll, liveTimeline];
  for (const start of features) {
    try {
      start(document);
    } catch (error) {
      console.error("roost.js:", error);
    }
  }
})();
