// Latchkey account page: the password lifecycle. Plain JavaScript, no
// framework, no build step, like app.js, whose session it uses for the one
// call that needs it (app.js exposes api, say, loadSessions and signedOut as
// self.latchkeyAccount).
//
//   - "Forgot your password?" asks for a reset link (POST /auth/recover) or
//     for a new verification link (POST /auth/verify/resend); the server
//     answers alike whether or not the address has an account.
//   - A reset link (PASSWORD_RESET_URL defaults to this page with
//     #reset=<token>) shows the new-password form (POST /auth/reset); a
//     verification link (#verify=<token>) is sent at once (POST
//     /auth/verify). The token is in the fragment, which no server, log or
//     Referer sees, and it is removed from the address bar at once.
//   - "Change password" (POST /auth/password) takes the current and the new
//     password; by default every other session is signed out.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const page = () => self.latchkeyAccount;
  const el = {
    forgotLink: $('forgot-link'),
    forgot: $('forgot'),
    forgotForm: $('forgot-form'),
    forgotEmail: $('forgot-email'),
    resendVerification: $('resend-verification'),
    reset: $('reset'),
    resetForm: $('reset-form'),
    resetPassword: $('reset-password'),
    changeForm: $('change-form'),
    currentPassword: $('current-password'),
    newPassword: $('new-password'),
    signOutOthers: $('sign-out-others'),
  };

  async function errorText(resp) {
    try {
      const b = await resp.json();
      return String(b.message || b.error || resp.status);
    } catch (e) {
      return resp.status + ' ' + resp.statusText;
    }
  }

  async function postJSON(path, body) {
    try {
      return await fetch(path, {
        method: 'POST',
        cache: 'no-store',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (e) {
      return null;
    }
  }

  // ---- forgot password, resend verification ----

  el.forgotLink.addEventListener('click', (ev) => {
    ev.preventDefault();
    el.forgot.hidden = !el.forgot.hidden;
    if (!el.forgot.hidden) el.forgotEmail.focus();
  });

  async function askByMail(path, done) {
    const email = el.forgotEmail.value.trim();
    if (!email) return;
    const resp = await postJSON(path, { email });
    if (!resp) {
      page().say('The server cannot be reached.', 'error');
    } else if (resp.status === 202) {
      page().say(done, 'info');
      el.forgot.hidden = true;
    } else {
      page().say(await errorText(resp), 'error');
    }
  }

  el.forgotForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    askByMail('/auth/recover', 'If an account uses this address, a link to choose a new password is on its way.');
  });
  el.resendVerification.addEventListener('click', () => {
    askByMail('/auth/verify/resend', 'If an account with this address still needs verifying, a new link is on its way.');
  });

  // ---- links from the e-mails ----

  let resetToken = '';

  function takeLink() {
    const m = /^#(reset|verify)=([A-Za-z0-9_-]+)$/.exec(location.hash);
    if (!m) return;
    history.replaceState(null, '', location.pathname + location.search);
    if (m[1] === 'reset') {
      resetToken = m[2];
      el.reset.hidden = false;
      el.resetPassword.focus();
      return;
    }
    verify(m[2]);
  }

  async function verify(token) {
    const resp = await postJSON('/auth/verify', { token });
    if (!resp) page().say('The server cannot be reached.', 'error');
    else if (resp.status === 204) page().say('Your address is verified. You can sign in.', 'info');
    else page().say(await errorText(resp), 'error');
  }

  el.resetForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const resp = await postJSON('/auth/reset', { token: resetToken, newPassword: el.resetPassword.value });
    if (!resp) {
      page().say('The server cannot be reached.', 'error');
      return;
    }
    if (resp.status !== 204) {
      page().say(await errorText(resp), 'error');
      return;
    }
    resetToken = '';
    el.resetPassword.value = '';
    el.reset.hidden = true;
    // Every session of the account has ended, this browser's included.
    page().signedOut('Your password is changed and every session is signed out. Sign in with the new password.', 'info');
  });

  // ---- change password ----

  el.changeForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const others = el.signOutOthers.checked;
    const resp = await page().api('POST', '/auth/password', {
      currentPassword: el.currentPassword.value,
      newPassword: el.newPassword.value,
      signOutOthers: others,
    });
    if (!resp) return; // signed out, or unreachable: the page said so
    if (resp.status !== 204) {
      page().say('The password is not changed: ' + (await errorText(resp)), 'error');
      return;
    }
    el.currentPassword.value = '';
    el.newPassword.value = '';
    page().say(others ? 'Password changed. Every other session is signed out.' : 'Password changed.', 'info');
    page().loadSessions();
  });

  window.addEventListener('hashchange', takeLink);
  takeLink();
})();
