// Package image tests the container image as users run it: the image built from the project's
// Dockerfile, run hardened as docs/operations.md's Compose service runs it (read-only root, no
// capabilities, user 1000:1000, no privilege escalation, a named volume) against a real Synapse
// and the fake Authentik. Its test needs a Docker daemon and the built image, so it sits behind
// the imagetest build tag; `make image-test` (scripts/image-test/run.sh) provides both and runs it.
package image
