// Package heal holds black-box checks of issue 10 with real processes: the
// cmd/node binary, built once, run on loopback with every port its own and
// every wait bounded, judged only by what a user sees (its REST API):
//   - TestStaticNodeStartedLateIsConnected: a node whose --staticnode comes
//     up 5 s after it is connected to it within 30 s;
//   - TestPXOnlyBootstrapReachesOutboundTarget: a node whose only bootstrap
//     is a peer that does gossipsub peer exchange reaches its outbound relay
//     target.
//
// The churn soak that proves the same at scale, in virtual time, is
// internal/sim's TestChurnSoak.
//
// The package has no non-test code; this file exists to document it.
package heal
