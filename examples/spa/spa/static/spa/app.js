// A single-page app signing in with Gatehouse as an OAuth 2.0 public client: authorization code + PKCE
// (S256) in the browser, no client secret, no library, no build step. Then it calls its API with the
// access token. Read top to bottom: configuration, the sign-in round trip, tokens, the API, sign-out.

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);

// --- Gatehouse's endpoints, from its discovery document (served with CORS) -------------------------
async function discover() {
  const response = await fetch(`${config.issuer}/.well-known/openid-configuration`);
  const metadata = await response.json();
  if (metadata.issuer !== config.issuer) throw new Error("discovery names another issuer");
  return metadata;
}

// --- helpers -------------------------------------------------------------------------------------------
function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function randomString(bytes = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}
function jwtClaims(jwt) {
  const payload = atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(payload, (c) => c.charCodeAt(0))));
}

// Tokens live in sessionStorage: this tab only, gone when it closes. Anything a script on this origin
// can read, an XSS can too: keep access tokens short-lived (Gatehouse's default is one hour).
const store = {
  get tokens() { return JSON.parse(sessionStorage.getItem("tokens") || "null"); },
  set tokens(value) { value ? sessionStorage.setItem("tokens", JSON.stringify(value)) : sessionStorage.removeItem("tokens"); },
};

// --- 1. Sign in: send the browser to Gatehouse with a PKCE challenge -------------------------------
async function signIn(metadata) {
  const verifier = randomString(48);
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = randomString(16);
  const nonce = randomString(16);
  sessionStorage.setItem("pending", JSON.stringify({ verifier, state, nonce }));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    scope: "openid profile email",
    state, nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: config.resource, // RFC 8707: the access token's audience is our API
  });
  location.assign(`${metadata.authorization_endpoint}?${params}`);
}

// --- 2. Back from Gatehouse: check the response, exchange the code (with the verifier, no secret) --
async function completeSignIn(metadata, params) {
  const pending = JSON.parse(sessionStorage.getItem("pending") || "null");
  sessionStorage.removeItem("pending");
  history.replaceState(null, "", "/"); // the code must not stay in the address bar or the history
  if (!pending || params.get("state") !== pending.state) throw new Error("unexpected response (state)");
  if (params.get("iss") !== metadata.issuer) throw new Error("response from another issuer (RFC 9207)");
  if (params.get("error")) throw new Error(params.get("error_description") || params.get("error"));
  const response = await fetch(metadata.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: config.redirectUri,
      client_id: config.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const tokens = await response.json();
  if (!response.ok) throw new Error(tokens.error_description || tokens.error);
  // The ID token came straight from the token endpoint over TLS, so its signature may go unchecked
  // here (OpenID Connect Core §3.1.3.7); its claims must still be ours.
  const claims = jwtClaims(tokens.id_token);
  if (claims.iss !== metadata.issuer || claims.aud !== config.clientId || claims.nonce !== pending.nonce) {
    throw new Error("the ID token is not for this sign-in");
  }
  store.tokens = { ...tokens, claims, expires_at: Date.now() + tokens.expires_in * 1000 };
}

// --- 3. Refresh: a new access token (and a rotated refresh token) without the person ---------------
async function refresh(metadata) {
  const tokens = store.tokens;
  let response;
  try {
    response = await fetch(metadata.token_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: config.clientId }),
    });
  } catch {
    return false; // an error answer carries no CORS headers, so the browser reports a network error
  }
  if (!response.ok) return false; // revoked: the Gatehouse session ended
  const fresh = await response.json();
  store.tokens = { ...tokens, ...fresh, claims: tokens.claims, expires_at: Date.now() + fresh.expires_in * 1000 };
  return true;
}

// --- 4. Call the API with the access token ----------------------------------------------------------
async function callApi(metadata) {
  if (Date.now() > store.tokens.expires_at - 30_000 && !(await refresh(metadata))) return null;
  let response = await fetch(`${config.api}/me`, { headers: { Authorization: `Bearer ${store.tokens.access_token}` } });
  if (response.status === 401 && (await refresh(metadata))) {
    response = await fetch(`${config.api}/me`, { headers: { Authorization: `Bearer ${store.tokens.access_token}` } });
  }
  return response.ok ? response.json() : null;
}

// --- 5. Sign out everywhere: forget the tokens, then end the Gatehouse session ---------------------
function signOut(metadata) {
  const idToken = store.tokens.id_token;
  store.tokens = null;
  const params = new URLSearchParams({
    id_token_hint: idToken,
    client_id: config.clientId,
    post_logout_redirect_uri: config.postLogoutRedirectUri,
  });
  location.assign(`${metadata.end_session_endpoint}?${params}`);
}

// --- the page ---------------------------------------------------------------------------------------
function showSignedOut(message) {
  $("status").textContent = message;
  $("signed-in").hidden = true;
  $("signed-out").hidden = false;
}

async function showSignedIn(metadata) {
  const answer = await callApi(metadata);
  if (!answer) {
    store.tokens = null;
    return showSignedOut("Your session has ended. You are signed out.");
  }
  const { name, email } = store.tokens.claims;
  $("status").textContent = `Signed in as ${name || answer.sub}${email ? ` (${email})` : ""}.`;
  $("api-result").textContent = JSON.stringify(answer, null, 2);
  $("signed-in").hidden = false;
  $("signed-out").hidden = true;
}

async function main() {
  if (config.otherAppUrl) {
    $("other-app").querySelector("a").href = config.otherAppUrl;
    $("other-app").hidden = false;
  }
  const metadata = await discover();
  $("sign-in").addEventListener("click", () => signIn(metadata));
  $("sign-out").addEventListener("click", () => signOut(metadata));
  $("call-api").addEventListener("click", () => showSignedIn(metadata));
  const params = new URLSearchParams(location.search);
  if (location.pathname === "/callback") await completeSignIn(metadata, params);
  if (store.tokens) await showSignedIn(metadata);
  else showSignedOut("You are not signed in.");
}

main().catch((error) => showSignedOut(`Signing in did not work: ${error.message}`));
