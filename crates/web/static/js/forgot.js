// printwarden — /forgot-password: asks for a reset link. The server answers
// the same for every address (whether an account has it or not), and so does
// this page: it shows the server's one message.

import { api, clearStatus, setBusy, showStatus, tooManyText } from "./lib.js";

const form = document.getElementById("forgot-form");
const status = document.getElementById("forgot-status");

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(status);
  const email = String(new FormData(form).get("email") ?? "").trim();
  setBusy(form, true);
  const res = await api("POST", "/api/v1/auth/forgot-password", { email }, { allow401: true });
  setBusy(form, false);
  if (res.ok) {
    showStatus(
      status,
      "success",
      `${res.data?.message ?? "If an account has this address, a reset link is on its way."} Check your mailbox (and its spam folder) in a few minutes.`,
    );
    return;
  }
  if (res.status === 429) {
    showStatus(status, "error", tooManyText(res, "Too many reset links were asked for."));
  } else {
    showStatus(status, "error", res.message);
  }
});
