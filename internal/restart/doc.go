// Package restart holds docker's restart policies (--restart no|on-failure[:N]|always|
// unless-stopped) and docker's back-off between restarts, as pure values: no process is
// started or watched here. Whoever sees a container exit (the shim, for a detached
// container) asks Policy.ShouldRestart and waits Backoff.Next before starting it again.
// It also names how berth and containerd-shim-berth-v1 share a policy: berth writes it
// into the spec as Annotation, the shim carries it out and keeps a State in the bundle's
// StateFile for berth's ps and inspect to read.
//
// # Notes
//
//   - Why docker's rules and not our own: people move `docker run -d --restart ...` lines
//     and compose files to berth unchanged and expect the same containers to come back (or
//     stay down). So the words, the "on-failure:N" retry count, the refusal of a count with
//     any other policy and the back-off timings are moby's (daemon validation and
//     restartmanager).
//   - A stop by the user is final for every policy when the container exits: docker's
//     `stop` cancels the container's restart manager, so even `always` stays stopped.
//     The difference between `always` and `unless-stopped` only shows when the engine
//     starts again (docker: the daemon starts, after a reboot): `always` comes back,
//     `unless-stopped` stays down if the user stopped it. Policy.StartAtBoot answers that
//     question; berth has no daemon and nothing runs at boot, so nobody asks it yet (a
//     systemd unit running `berth start` plays that part; docs/rationale.md).
//   - Why an annotation and a state file: the shim is also containerd's, Docker's and
//     Kubernetes', where restarting is their job; it restarts only a container whose
//     spec carries Annotation, which only berth writes. The task API has no field for a
//     restart count or a back-off, so the shim tells them through StateFile.
//   - on-failure:N counts restarts, not runs: with N=3 the container runs at most four
//     times. N=0 (or no N) means no limit, as in docker.
//   - The back-off is restartmanager's: 100 ms before the first restart, doubled each
//     time, at most one minute, back to 100 ms once a run lasted 10 s or more. Backoff
//     is a plain value (its field is exported) so it can be kept in a state file between
//     processes, as a daemonless engine must.
package restart
