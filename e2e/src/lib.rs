//! The whole Rodan on a real single-node Kubernetes: see `tests/node/`. The test runs when
//! `RODAN_NODE_DIR` names a node that `scripts/node.sh up` started (as `scripts/test.sh` does),
//! and is reported ignored otherwise.
