// A real OpenID Connect provider that Gatehouse did not write: oidc-provider (OpenID Certified), from
// the npm registry, on loopback, with one fixed test account. Gatehouse signs people in through it as
// its generic `oidc` upstream (SOCIAL_AUTH_OIDC_OIDC_ENDPOINT) in tests/e2e/test_single_sign_on.py.
//
//   PORT=9000 CLIENT_ID=gatehouse CLIENT_SECRET=... REDIRECT_URI=http://127.0.0.1:8000/complete/oidc/ node server.js
//
// Its built-in development pages ask for a login and a password, then for consent. Only the login
// `ada` exists (any password): Ada Lovelace, with an email the provider has verified.
import Provider from "oidc-provider";

const { PORT = "9000", CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } = process.env;
if (!CLIENT_ID || !CLIENT_SECRET || !REDIRECT_URI) {
  console.error("CLIENT_ID, CLIENT_SECRET and REDIRECT_URI are required");
  process.exit(2);
}
const issuer = `http://127.0.0.1:${PORT}`;

const ACCOUNTS = {
  ada: {
    sub: "ada",
    email: "ada@example.com",
    email_verified: true,
    name: "Ada Lovelace",
    given_name: "Ada",
    family_name: "Lovelace",
  },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [REDIRECT_URI],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "given_name", "family_name"],
  },
  async findAccount(ctx, id) {
    const claims = ACCOUNTS[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { ...claims }; } };
  },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  cookies: { keys: ["gatehouse-e2e-upstream-cookie-key"] },
});

provider.listen(Number(PORT), "127.0.0.1", () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
