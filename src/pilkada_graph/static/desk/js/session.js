// Who is using the console: the token (kept in sessionStorage, gone when the tab closes) and
// what the API says this token may do (the `me` query). The console never decides rights itself.
const TOKEN_KEY = "pilkada-desk.token";

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export const ME_QUERY = `query Me { me { anonymous actor role roles regions canReadPrivate canSubmit canReview } }`;

/** What the viewer may do; a server without `me` (older) is taken to allow everything. */
export async function whoAmI(client) {
  const data = await client.request(ME_QUERY);
  return data.me;
}
