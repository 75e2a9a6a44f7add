// Package daemon is the agent's main loop, "patchbay-agent run": it
// identifies the device and its neighbours, keeps the TUF metadata fresh,
// picks the signed update the device may install (by board, version, the
// local policy and the gateway's assignment), hands it to the install
// engine, resumes an interrupted update or a trial boot after a restart,
// and reports state and events to the gateway through the outbox.
//
// It wires the agent's parts together and decides when; what an update is
// and how it is installed safely belong to firmware/trust and
// agent/install, how it is reported to agent/report. Run owns every
// goroutine it starts and returns when they have ended.
package daemon
