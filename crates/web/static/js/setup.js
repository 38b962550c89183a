// printwarden — /setup: claims a fresh instance with the one-time code and
// creates the first administrator, then opens their account page.

import { api, clearStatus, setBusy, showStatus } from "./lib.js";

const form = document.getElementById("setup-form");
const status = document.getElementById("setup-status");

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(status);
  const data = new FormData(form);
  const password = String(data.get("password") ?? "");
  const confirm = form.elements.namedItem("confirm");
  if (password !== String(data.get("confirm") ?? "")) {
    confirm.setAttribute("aria-invalid", "true");
    showStatus(status, "error", "The two passwords do not match.");
    confirm.focus();
    return;
  }
  confirm.removeAttribute("aria-invalid");
  const email = String(data.get("email") ?? "").trim();
  const body = {
    setup_code: String(data.get("setup_code") ?? "").trim(),
    username: String(data.get("username") ?? "").trim(),
    password,
  };
  if (email) body.email = email;

  setBusy(form, true);
  const res = await api("POST", "/api/v1/auth/setup", body, { allow401: true });
  if (res.ok) {
    // Home: the farm at a glance (the README's next step is adding printers from there).
    location.assign("/");
    return;
  }
  setBusy(form, false);
  if (res.status === 403) {
    showStatus(
      status,
      "error",
      "That setup code is not right. Copy it again from the server console or the setup-code file; a restart issues a new one.",
    );
    form.elements.namedItem("setup_code")?.focus();
  } else if (res.status === 409) {
    showStatus(status, "error", `${res.message} Sign in instead.`);
  } else {
    showStatus(status, "error", res.message);
  }
});
