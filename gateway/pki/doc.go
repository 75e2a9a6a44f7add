// Package pki is the gateway's small certificate authority for the MQTT
// side: it creates the device CA (ECDSA P-256), issues the broker's server
// certificate and the client certificates of devices and services, reads
// who a verified client certificate names, and writes the mosquitto ACL file
// that confines each device to its own topics.
//
// # Identities
//
// A client certificate's subject Common Name is the client's identity:
//
//	CN = "{tenant}/{device}"  a device, e.g. "acme/rtr-1"; O = the tenant
//	CN = "{name}"             a Patchbay service, e.g. "patchbay-gateway"
//
// Tenant, device and service names are telemetry IDs (telemetry.ValidID), so
// the CN of a device always has exactly one '/', and a service's none: no
// device certificate can pass for a service. The device form puts tenant and
// device in the one field mosquitto turns into the username
// (use_identity_as_username), so its ACL patterns (%u) confine the tenant
// as well as the device. O repeats the tenant for people and for brokers
// that map other subject fields; IdentityOf refuses a certificate whose O
// disagrees with its CN.
//
// Mosquitto with MosquittoConf makes the username the client ID as well,
// so each gateway replica that connects to it needs a service certificate
// of its own ("patchbay-gateway-1", …), listed in MosquittoACL's services.
//
// # Access
//
// A device may publish to pb/v1/{tenant}/{device}/{status,state,events} and
// subscribe to pb/v1/{tenant}/{device}/{desired,cmd,ack}, exact topics
// only: DeviceWrites and DeviceReads. Services may use every device topic.
// The embedded broker (gateway/broker) enforces these rules with Identity's
// methods; MosquittoACL writes the same rules for mosquitto.
//
// The package does no network I/O. Issuing reads crypto/rand; the functions
// that read or write files say so. It is safe for concurrent use.
package pki
