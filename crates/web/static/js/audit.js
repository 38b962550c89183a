// printwarden — /audit: the filter form in the reader's time zone.
//
// <input type="datetime-local"> has no zone. The server reads a bare value as
// UTC (so the form works without scripts); here the inputs show and accept
// local time, and the query carries RFC 3339 in UTC. Event times are shown
// in the reader's locale and zone (the UTC value stays in the tooltip).

const form = document.getElementById("audit-filters");

/** An instant → the local wall time a datetime-local input shows. */
function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

for (const input of form?.querySelectorAll("input[type=datetime-local][data-utc]") ?? []) {
  const utc = input.getAttribute("data-utc");
  const when = utc ? new Date(utc) : null;
  if (when && !Number.isNaN(when.getTime())) input.value = localInputValue(when);
}

form?.addEventListener("submit", (event) => {
  event.preventDefault();
  const params = new URLSearchParams();
  for (const [name, raw] of new FormData(form)) {
    let value = String(raw).trim();
    if (value === "") continue;
    if (name === "since" || name === "until") {
      const when = new Date(value); // a bare date-time is local time
      if (!Number.isNaN(when.getTime())) value = when.toISOString();
    }
    params.append(name, value);
  }
  const query = params.toString();
  location.assign(query ? `/audit?${query}` : "/audit");
});

const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
for (const time of document.querySelectorAll("time[datetime][data-absolute]")) {
  const iso = time.getAttribute("datetime") ?? "";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) continue;
  time.textContent = absolute.format(when);
  time.setAttribute("title", iso);
}
