// A real OpenID provider for the single sign-on tests: the npm package oidc-provider (a
// certified implementation) on 127.0.0.1, on a free port the system chooses.
//
//   node provider.js '<config JSON>'
//
// The config names the client ({client_id, client_secret, redirect_uri}) and the users
// ({name: {password, email, groups, username?}}): each signs in with its name, which is also its
// subject; its preferred_username is the name unless username gives another. Once listening, the provider prints one JSON line,
// {"issuer": "http://127.0.0.1:<port>"}, and serves until its standard input closes.
//
// Its login page checks the user's password. The tests steer it through /_test/ on the same
// port, as an administrator of a real provider would steer theirs:
//   POST /_test/groups   {user, groups}        change a user's groups
//   POST /_test/login-age {seconds}            the next logins happened that long ago (auth_time)
//   POST /_test/id-token {aud?, iss?}          sign the next ID tokens, with the provider's own
//                                              key, for another audience or issuer (an attack)
//   POST /_test/userinfo {sub?}                answer UserInfo about another subject (an attack)
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2]);
const users = config.users;
const steer = { loginAge: 0, idToken: {}, userinfo: {} };

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' };

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks).toString();
  if ((req.headers['content-type'] || '').startsWith('application/json')) return JSON.parse(body);
  return Object.fromEntries(new URLSearchParams(body));
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

function loginPage(uid, client, error = '') {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test provider: sign in</title></head>
<body><main><h1>Sign in to ${escape(client)}</h1>${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label for="login">User name</label> <input id="login" name="login" autocomplete="username">
<label for="password">Password</label> <input id="password" name="password" type="password">
<button type="submit">Sign in</button></form></main></body></html>`;
}

// Re-sign an ID token with the provider's own key after changing its claims: what a token
// meant for another client (or from another issuer) looks like to Safecase.
function resign(token, changes) {
  const [header, payload] = token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url')));
  const signingInput = [header, { ...payload, ...changes }]
    .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
    .join('.');
  const signature = crypto.sign('sha256', Buffer.from(signingInput), privateKey).toString('base64url');
  return `${signingInput}.${signature}`;
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: config.client.client_id,
        client_secret: config.client.client_secret,
        redirect_uris: [config.client.redirect_uri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_post',
        id_token_signed_response_alg: 'RS256',
        // Every ID token says when the person last gave their credentials (auth_time).
        require_auth_time: true,
      },
    ],
    jwks: { keys: [jwk] },
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'name'],
      groups: ['groups'],
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    // First-party client: the user is not asked to consent to the scopes it asks for.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile groups');
      await grant.save();
      return grant;
    },
    async findAccount(ctx, id) {
      if (!users[id]) return undefined;
      return {
        accountId: id,
        async claims() {
          const user = users[id];
          return {
            sub: id,
            // the user name, given to another account when the config says so
            preferred_username: user.username || id,
            name: id,
            email: user.email,
            email_verified: true,
            groups: user.groups,
          };
        },
      };
    },
  });

  provider.use(async (ctx, next) => {
    await next();
    const changes = steer.idToken;
    if (ctx.path === '/token' && ctx.body?.id_token && Object.keys(changes).length) {
      ctx.body = { ...ctx.body, id_token: resign(ctx.body.id_token, changes) };
    }
    if (ctx.path === '/me' && ctx.body?.sub && Object.keys(steer.userinfo).length) {
      ctx.body = { ...ctx.body, ...steer.userinfo };
    }
  });

  const callback = provider.callback();
  server.on('request', async (req, res) => {
    const url = new URL(req.url, issuer);
    try {
      if (url.pathname.startsWith('/_test/') && req.method === 'POST') {
        const body = await readForm(req);
        if (url.pathname === '/_test/groups') users[body.user].groups = body.groups;
        else if (url.pathname === '/_test/login-age') steer.loginAge = Number(body.seconds);
        else if (url.pathname === '/_test/id-token') steer.idToken = body;
        else if (url.pathname === '/_test/userinfo') steer.userinfo = body;
        else return send(res, 404, 'no such control');
        return send(res, 200, '{}', 'application/json');
      }
      const match = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
      if (match) {
        const details = await provider.interactionDetails(req, res);
        const client = details.params.client_id;
        if (!match[2]) return send(res, 200, loginPage(details.uid, client));
        const form = await readForm(req);
        const user = users[form.login];
        const given = Buffer.from(String(form.password || ''));
        const expected = Buffer.from(user ? user.password : '');
        if (!user || given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
          return send(res, 200, loginPage(details.uid, client, 'Wrong user name or password.'));
        }
        const ts = Math.floor(Date.now() / 1000) - steer.loginAge;
        return await provider.interactionFinished(req, res, { login: { accountId: form.login, ts } }, {
          mergeWithLastSubmission: false,
        });
      }
      return callback(req, res);
    } catch (error) {
      return send(res, 500, escape(error.stack || error), 'text/plain');
    }
  });

  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
