// printwarden — /reset-password and /set-password: the pages mailed links
// open. The token is read here from the address (the server never puts it in
// the page) and sent in the body of POST /api/v1/auth/reset-password, which
// answers both kinds of link. The page has no Referer (see its <meta>), so the
// address with the token does not travel with its requests.

import { api, clearStatus, setBusy, showStatus } from "./lib.js";

const form = document.getElementById("password-link-form");
const status = document.getElementById("password-link-status");
const done = document.getElementById("password-link-done");
const help = document.getElementById("password-link-help");

/** The link's token: hex, from ?token=… (anything else is not one of our links). */
function linkToken() {
  const token = new URLSearchParams(location.search).get("token") ?? "";
  return /^[0-9a-f]{16,256}$/i.test(token) ? token : "";
}

const token = linkToken();

if (form && !token) {
  // A link cut short by a mail program, or the page opened by hand.
  for (const control of form.querySelectorAll("input, button")) control.disabled = true;
  showStatus(
    status,
    "error",
    "This page needs the whole link from the email, and the address has no token. Open the link from the email again (copy all of it if it is split over two lines).",
  );
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!token) return;
  clearStatus(status);
  const data = new FormData(form);
  const password = String(data.get("new_password") ?? "");
  const confirm = form.elements.namedItem("confirm");
  if (password !== String(data.get("confirm") ?? "")) {
    confirm.setAttribute("aria-invalid", "true");
    showStatus(status, "error", "The two passwords do not match.");
    confirm.focus();
    return;
  }
  confirm.removeAttribute("aria-invalid");
  setBusy(form, true);
  const res = await api(
    "POST",
    "/api/v1/auth/reset-password",
    { token, new_password: password },
    { allow401: true },
  );
  if (res.ok) {
    form.reset();
    form.hidden = true;
    if (help) help.hidden = true;
    // The token is spent: take it out of the address bar and the history entry.
    history.replaceState(null, "", location.pathname);
    done.hidden = false;
    document.getElementById("password-link-sign-in")?.focus();
    return;
  }
  setBusy(form, false);
  // A weak password leaves the link usable; a bad, used or expired link does not.
  showStatus(status, "error", res.message);
  form.elements.namedItem("new_password")?.focus();
});
