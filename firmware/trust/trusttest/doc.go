// Package trusttest gives tests of the TUF client a real repository: made
// by tools/release in a temporary directory and served over HTTP on
// loopback (httptest), with a log of the requests a client makes and hooks
// to serve an attacker's files instead of the published ones. Forge makes
// such files: published metadata, changed and signed with keys of the
// test's choice (stolen, retired, too few).
//
// It is for tests only; the agent does not import it.
package trusttest
