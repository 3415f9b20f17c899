// reelay dashboard: follow the event stream and swap the parts of the page that changed.
//
// Every live part of a page has an id, `data-live` and `data-sig` (a digest of what it shows).
// When an event concerns this page, the page is fetched again and each live part whose sig
// changed is replaced. A part the user is busy with (focus inside, an open confirmation, a
// playing video) is left alone until the next refresh. Without this script every page still
// works; it only does not follow along.
"use strict";

(function () {
  const body = document.body;
  const streamUrl = body.dataset.stream;
  if (!streamUrl || !window.EventSource) return;

  const scope = body.dataset.liveScope;
  const indicator = document.getElementById("live");
  const MIN_GAP_MS = 400;

  let inFlight = false;
  let again = false;
  let lastRun = 0;
  let timer = null;

  function setState(state, text) {
    if (!indicator) return;
    indicator.dataset.state = state;
    indicator.textContent = text;
  }

  function busy(el) {
    if (el.contains(document.activeElement) && document.activeElement !== document.body) {
      return true;
    }
    if (el.querySelector("details[open]")) return true;
    for (const video of el.querySelectorAll("video")) {
      if (!video.paused && !video.ended) return true;
    }
    return false;
  }

  function swap(fresh) {
    let skipped = false;
    for (const next of fresh.querySelectorAll("[data-live][id]")) {
      const current = document.getElementById(next.id);
      if (!current || !current.hasAttribute("data-live")) continue;
      if (current.dataset.sig === next.dataset.sig) continue;
      if (busy(current)) {
        skipped = true;
        continue;
      }
      current.replaceWith(document.importNode(next, true));
    }
    const title = fresh.querySelector("title");
    if (title) document.title = title.textContent;
    return skipped;
  }

  async function refresh() {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    lastRun = Date.now();
    try {
      const response = await fetch(window.location.href, {
        headers: { "X-Reelay-Live": "1" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (response.ok) {
        const html = await response.text();
        const fresh = new DOMParser().parseFromString(html, "text/html");
        if (swap(fresh)) again = true;
        body.dataset.refreshed = String(Number(body.dataset.refreshed || "0") + 1);
      }
    } catch (err) {
      again = true;
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        schedule(1500);
      }
    }
  }

  function schedule(delay) {
    if (timer !== null) return;
    const wait = Math.max(delay || 0, MIN_GAP_MS - (Date.now() - lastRun));
    timer = window.setTimeout(function () {
      timer = null;
      refresh();
    }, Math.max(0, wait));
  }

  function concernsThisPage(event) {
    if (scope !== "list") return true;
    if (event.type === "pipeline.created") {
      return !new URLSearchParams(window.location.search).has("cursor");
    }
    return document.getElementById("row-" + event.pipeline_id) !== null;
  }

  const source = new EventSource(streamUrl);
  source.onopen = function () {
    setState("live", "live");
  };
  source.onerror = function () {
    setState("reconnecting", "reconnecting…");
  };
  source.onmessage = function (message) {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch (err) {
      return;
    }
    if (concernsThisPage(event)) schedule(0);
  };
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
