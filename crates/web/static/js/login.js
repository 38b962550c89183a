// printwarden — /login: signs in through the JSON API, then goes to the
// (server-checked, same-site) return path.

import { api, clearStatus, setBusy, showStatus } from "./lib.js";

const form = document.getElementById("login-form");
const status = document.getElementById("login-status");

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(status);
  const data = new FormData(form);
  setBusy(form, true);
  const res = await api(
    "POST",
    "/api/v1/auth/login",
    {
      username: String(data.get("username") ?? "").trim(),
      password: String(data.get("password") ?? ""),
    },
    { allow401: true },
  );
  if (res.ok && !res.data?.mfa_required) {
    // The server sanitised `next`; check again so a tampered attribute
    // cannot send anyone off-site.
    const next = form.getAttribute("data-next") ?? "/";
    const safe = next.startsWith("/") && !next.startsWith("//") && !next.includes("\\");
    location.assign(safe ? next : "/");
    return;
  }
  setBusy(form, false);
  const password = form.elements.namedItem("password");
  if (res.status === 401) {
    // One message for every failure: never say whether the user exists.
    showStatus(status, "error", "Wrong username or password.");
    password.value = "";
    password.focus();
  } else if (res.ok) {
    showStatus(status, "error", "This account needs a second factor, which this page does not support yet.");
  } else {
    showStatus(status, "error", res.message);
  }
});
