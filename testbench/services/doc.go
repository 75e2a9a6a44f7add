// Package services starts real peers for tests: a mosquitto MQTT broker,
// net-snmp's snmpd, a socat pseudo-terminal pair standing in for a serial
// cable, and a PostgreSQL server. Each listens on 127.0.0.1 on an ephemeral
// port, keeps its files in a temporary directory, is ready (a real client
// connection succeeded) when its Start function returns, and is stopped by
// t.Cleanup.
//
// Every process runs in its own process group and is killed through it, so
// children (snmpd's pass_persist helper, PostgreSQL's backends) go with it;
// on Linux they also die if the test binary itself dies. A service that does
// not start fails the test with the service's own log; a missing binary fails
// it with the Debian package to install (mosquitto, snmpd, socat,
// postgresql). Nothing is skipped.
//
// A test package that uses StartPostgres or serves recorded variables with
// StartSNMPD should call Main from its TestMain:
//
//	func TestMain(m *testing.M) { services.Main(m) }
//
// Main shares one PostgreSQL server among the binary's tests (one database
// per test), runs the pass_persist helper when snmpd starts the test binary
// as one, and reports processes left behind when the tests end.
//
// The package is for tests only; it needs a Unix system and, for the process
// group guarantees, Linux. The Start functions and the methods that start a
// service call t.Fatalf and must run on the test's goroutine; Stop and Kill
// report with t.Errorf and may be called from any goroutine.
package services
