/*
 * mailward passkey ceremonies in the browser (WebAuthn Level 3), no dependencies.
 *
 * Page contract
 * -------------
 * 1. Load this file from the same origin: <script src=".../webauthn.js" defer></script>.
 *    It defines two globals and touches nothing else until one of them is called.
 *
 * 2. A <form method="post" action="<finish endpoint>"> that the script submits when the
 *    authenticator has answered. It should contain <input type="hidden" name="credential">;
 *    if it does not, the script adds one. The posted value is JSON with base64url
 *    (unpadded) binary fields:
 *      registration:   {id, rawId, type, response: {clientDataJSON, attestationObject,
 *                       transports?}, extensions}            (webauthn-rs RegisterPublicKeyCredential)
 *      authentication: {id, rawId, type, response: {clientDataJSON, authenticatorData,
 *                       signature, userHandle}, extensions}  (webauthn-rs PublicKeyCredential)
 *    Any CSRF token or ceremony id the server needs is an ordinary field of the same form.
 *
 * 3. An element with id="passkey-error" (for example <p id="passkey-error" role="alert"
 *    hidden></p>). On failure its text is set to a message and `hidden` is removed.
 *    Nothing is submitted in that case, so the user can try again.
 *
 * 4. Start a ceremony with the options JSON that the server's start step returned, as a
 *    string or an already parsed object (the {"publicKey": ...} wrapper or the bare
 *    options both work):
 *      mailwardPasskeyRegister(optionsJson, form)
 *      mailwardPasskeyAuthenticate(optionsJson, form)
 *    Both return a promise that resolves to true once the form is submitted, or false
 *    after an error has been shown.
 *
 *    Pages with a Content-Security-Policy that forbids inline scripts can instead mark a
 *    button inside the form, and the script wires the click itself:
 *      <script type="application/json" id="passkey-options">{...options...}</script>
 *      <button type="button" data-passkey="register" data-passkey-options="passkey-options">
 *    (data-passkey="authenticate" for sign-in). The JSON inside the <script> element must
 *    have `<` escaped (for example as \u003c), as a JSON-for-HTML filter does.
 */
(function () {
  "use strict";

  function fromBase64url(value) {
    var b64 = String(value).replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4 !== 0) {
      b64 += "=";
    }
    var binary = atob(b64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    if (buffer === null || buffer === undefined) {
      return null;
    }
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  /* Returns {publicKey, mediation} from the server's JSON. */
  function parseOptions(optionsJson) {
    var options = typeof optionsJson === "string" ? JSON.parse(optionsJson) : optionsJson;
    if (!options || typeof options !== "object") {
      throw new Error("The server sent no passkey options.");
    }
    if (options.publicKey) {
      return { publicKey: options.publicKey, mediation: options.mediation };
    }
    return { publicKey: options, mediation: undefined };
  }

  function convertDescriptors(list) {
    if (!Array.isArray(list)) {
      return list;
    }
    return list.map(function (descriptor) {
      var copy = Object.assign({}, descriptor);
      copy.id = fromBase64url(descriptor.id);
      return copy;
    });
  }

  /* Only extension outputs that are plain JSON and that webauthn-rs reads. */
  function extensionResults(credential, names) {
    var all = typeof credential.getClientExtensionResults === "function"
      ? credential.getClientExtensionResults()
      : {};
    var picked = {};
    names.forEach(function (name) {
      if (all && all[name] !== undefined) {
        picked[name] = all[name];
      }
    });
    return picked;
  }

  function showError(message) {
    var element = document.getElementById("passkey-error");
    if (element) {
      element.textContent = message;
      element.hidden = false;
    } else {
      window.alert(message);
    }
  }

  function clearError() {
    var element = document.getElementById("passkey-error");
    if (element) {
      element.textContent = "";
      element.hidden = true;
    }
  }

  function describe(error, registering) {
    var name = error && error.name;
    if (name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out. Please try again.";
    }
    if (name === "InvalidStateError" && registering) {
      return "This authenticator already holds a passkey for your account.";
    }
    if (name === "SecurityError") {
      return "Passkeys are not available on this address.";
    }
    if (name === "NotSupportedError") {
      return "Your authenticator does not support the requested passkey type.";
    }
    return (error && error.message) || "The passkey could not be used.";
  }

  function submit(form, payload) {
    var input = form.querySelector('input[name="credential"]');
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = "credential";
      form.appendChild(input);
    }
    input.value = JSON.stringify(payload);
    /* form.submit() skips submit handlers, so nothing can intercept the credential. */
    HTMLFormElement.prototype.submit.call(form);
  }

  function supported() {
    return typeof window.PublicKeyCredential !== "undefined" &&
      navigator.credentials && typeof navigator.credentials.create === "function";
  }

  var busy = false;

  async function register(optionsJson, form) {
    if (busy) {
      return false;
    }
    busy = true;
    clearError();
    try {
      if (!supported()) {
        throw new Error("This browser does not support passkeys.");
      }
      var options = parseOptions(optionsJson);
      var publicKey = Object.assign({}, options.publicKey);
      publicKey.challenge = fromBase64url(publicKey.challenge);
      publicKey.user = Object.assign({}, publicKey.user, {
        id: fromBase64url(publicKey.user.id)
      });
      publicKey.excludeCredentials = convertDescriptors(publicKey.excludeCredentials);

      var credential = await navigator.credentials.create({ publicKey: publicKey });
      if (!credential) {
        throw new Error("The authenticator returned no passkey.");
      }
      var response = credential.response;
      var payload = {
        id: credential.id,
        rawId: toBase64url(credential.rawId),
        type: credential.type,
        response: {
          clientDataJSON: toBase64url(response.clientDataJSON),
          attestationObject: toBase64url(response.attestationObject)
        },
        extensions: extensionResults(credential, ["appid", "credProps"])
      };
      if (typeof response.getTransports === "function") {
        payload.response.transports = response.getTransports();
      }
      submit(form, payload);
      return true;
    } catch (error) {
      showError(describe(error, true));
      return false;
    } finally {
      busy = false;
    }
  }

  async function authenticate(optionsJson, form) {
    if (busy) {
      return false;
    }
    busy = true;
    clearError();
    try {
      if (!supported()) {
        throw new Error("This browser does not support passkeys.");
      }
      var options = parseOptions(optionsJson);
      var publicKey = Object.assign({}, options.publicKey);
      publicKey.challenge = fromBase64url(publicKey.challenge);
      publicKey.allowCredentials = convertDescriptors(publicKey.allowCredentials);

      var request = { publicKey: publicKey };
      if (options.mediation) {
        request.mediation = options.mediation;
      }
      var credential = await navigator.credentials.get(request);
      if (!credential) {
        throw new Error("The authenticator returned no passkey.");
      }
      var response = credential.response;
      submit(form, {
        id: credential.id,
        rawId: toBase64url(credential.rawId),
        type: credential.type,
        response: {
          clientDataJSON: toBase64url(response.clientDataJSON),
          authenticatorData: toBase64url(response.authenticatorData),
          signature: toBase64url(response.signature),
          userHandle: toBase64url(response.userHandle)
        },
        extensions: extensionResults(credential, ["appid"])
      });
      return true;
    } catch (error) {
      showError(describe(error, false));
      return false;
    } finally {
      busy = false;
    }
  }

  window.mailwardPasskeyRegister = register;
  window.mailwardPasskeyAuthenticate = authenticate;

  /* Optional wiring for pages without inline scripts (see the contract above). */
  function wire() {
    var buttons = document.querySelectorAll("[data-passkey]");
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        var form = button.form || button.closest("form");
        var source = document.getElementById(button.getAttribute("data-passkey-options"));
        if (!form || !source) {
          showError("This page is missing its passkey form or options.");
          return;
        }
        var action = button.getAttribute("data-passkey");
        if (action === "register") {
          register(source.textContent, form);
        } else if (action === "authenticate") {
          authenticate(source.textContent, form);
        }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
})();
