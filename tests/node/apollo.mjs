// Apollo Client against a live server: automatic persisted queries (the persisted-queries link,
// SHA-256 from node:crypto, hashed queries over GET) and HttpLink with useGETForQueries, each
// running a query and a mutation and checking the results and what went over the wire.
//   node tests/node/apollo.mjs http://127.0.0.1:8000/graphql
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';

import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const uri = process.argv[2];
if (!uri) {
  console.error('usage: node apollo.mjs <graphql url>');
  process.exit(2);
}

/** A fetch that records each request: method, whether it carried the query text, status. */
function recordingFetch(log) {
  return async (input, init = {}) => {
    const url = new URL(typeof input === 'string' ? input : input.url);
    const method = init.method ?? 'GET';
    const text = method === 'GET' ? url.searchParams.get('query') : JSON.parse(init.body).query;
    const response = await fetch(input, init);
    log.push({ method, withText: Boolean(text), status: response.status });
    return response;
  };
}

const client = (link) =>
  new ApolloClient({
    link,
    cache: new InMemoryCache(),
    defaultOptions: { query: { fetchPolicy: 'network-only' } },
  });

const CREATE = gql`
  mutation CreateUser($input: CreateUserInput!) {
    createUser(input: $input) {
      user { id name email }
      consistencyToken
    }
  }
`;
const USERS = gql`
  query ListUsers($pageSize: Int!, $token: String) {
    users(page: 1, pageSize: $pageSize, consistencyToken: $token) {
      items { id name }
      totalCount
    }
  }
`;

const run = randomUUID().slice(0, 8);
const create = (apollo, name) =>
  apollo.mutate({
    mutation: CREATE,
    variables: { input: { name, email: `${name.toLowerCase()}-${run}@example.com` } },
  });

// 1. Automatic persisted queries, hashed queries sent with GET.
const apqLog = [];
const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const apq = client(
  new PersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
    new HttpLink({ uri, fetch: recordingFetch(apqLog) }),
  ),
);

const created = await create(apq, 'Ada');
assert.equal(created.error, undefined, String(created.error));
assert.equal(created.data.createUser.user.name, 'Ada');
// A mutation: POST with the hash alone, PERSISTED_QUERY_NOT_FOUND, then POST with the text.
assert.deepEqual(
  apqLog.map(({ method, withText }) => [method, withText]),
  [['POST', false], ['POST', true]],
  JSON.stringify(apqLog),
);
apqLog.length = 0;

const token = created.data.createUser.consistencyToken;
const first = await apq.query({ query: USERS, variables: { pageSize: 10, token } });
assert.ok(first.data.users.items.some((u) => u.id === created.data.createUser.user.id));
// The query's first hash is unknown: GET with the hash, then POST registers it.
assert.deepEqual(
  apqLog.map(({ method, withText }) => [method, withText]),
  [['GET', false], ['POST', true]],
  JSON.stringify(apqLog),
);
apqLog.length = 0;

const again = await apq.query({ query: USERS, variables: { pageSize: 10, token } });
assert.deepEqual(again.data, first.data);
// Registered: one GET with the hash alone, a cacheable request.
assert.deepEqual(apqLog, [{ method: 'GET', withText: false, status: 200 }]);
apqLog.length = 0;

const second = await create(apq, 'Grace');
assert.equal(second.data.createUser.user.name, 'Grace');
assert.deepEqual(apqLog, [{ method: 'POST', withText: false, status: 200 }]);

// 2. Plain HttpLink, queries over GET (with operationName and variables in the URL).
const getLog = [];
const plain = client(new HttpLink({ uri, useGETForQueries: true, fetch: recordingFetch(getLog) }));
const third = await create(plain, 'Edsger');
assert.equal(third.data.createUser.user.name, 'Edsger');
const page = await plain.query({
  query: USERS,
  variables: { pageSize: 50, token: third.data.createUser.consistencyToken },
});
const names = page.data.users.items.map((u) => u.name);
for (const name of ['Ada', 'Grace', 'Edsger']) assert.ok(names.includes(name), names.join());
assert.deepEqual(
  getLog.map(({ method, withText, status }) => [method, withText, status]),
  [['POST', true, 200], ['GET', true, 200]],
);

console.log('apollo: ok (persisted queries over GET and POST, queries over GET, mutations)');
