package wasi

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// Errno is a WASI preview1 error number, as witx's $errno enum numbers them. Host
// functions return it in the low 16 bits of their single i32 result.
type Errno uint16

// The errno values of wasi_snapshot_preview1, in witx order.
const (
	ErrnoSuccess Errno = iota
	Errno2big
	ErrnoAcces
	ErrnoAddrinuse
	ErrnoAddrnotavail
	ErrnoAfnosupport
	ErrnoAgain
	ErrnoAlready
	ErrnoBadf
	ErrnoBadmsg
	ErrnoBusy
	ErrnoCanceled
	ErrnoChild
	ErrnoConnaborted
	ErrnoConnrefused
	ErrnoConnreset
	ErrnoDeadlk
	ErrnoDestaddrreq
	ErrnoDom
	ErrnoDquot
	ErrnoExist
	ErrnoFault
	ErrnoFbig
	ErrnoHostunreach
	ErrnoIdrm
	ErrnoIlseq
	ErrnoInprogress
	ErrnoIntr
	ErrnoInval
	ErrnoIo
	ErrnoIsconn
	ErrnoIsdir
	ErrnoLoop
	ErrnoMfile
	ErrnoMlink
	ErrnoMsgsize
	ErrnoMultihop
	ErrnoNametoolong
	ErrnoNetdown
	ErrnoNetreset
	ErrnoNetunreach
	ErrnoNfile
	ErrnoNobufs
	ErrnoNodev
	ErrnoNoent
	ErrnoNoexec
	ErrnoNolck
	ErrnoNolink
	ErrnoNomem
	ErrnoNomsg
	ErrnoNoprotoopt
	ErrnoNospc
	ErrnoNosys
	ErrnoNotconn
	ErrnoNotdir
	ErrnoNotempty
	ErrnoNotrecoverable
	ErrnoNotsock
	ErrnoNotsup
	ErrnoNotty
	ErrnoNxio
	ErrnoOverflow
	ErrnoOwnerdead
	ErrnoPerm
	ErrnoPipe
	ErrnoProto
	ErrnoProtonosupport
	ErrnoPrototype
	ErrnoRange
	ErrnoRofs
	ErrnoSpipe
	ErrnoSrch
	ErrnoStale
	ErrnoTimedout
	ErrnoTxtbsy
	ErrnoXdev
	ErrnoNotcapable
)

var errnoNames = [...]string{
	"SUCCESS", "2BIG", "ACCES", "ADDRINUSE", "ADDRNOTAVAIL", "AFNOSUPPORT", "AGAIN", "ALREADY",
	"BADF", "BADMSG", "BUSY", "CANCELED", "CHILD", "CONNABORTED", "CONNREFUSED", "CONNRESET",
	"DEADLK", "DESTADDRREQ", "DOM", "DQUOT", "EXIST", "FAULT", "FBIG", "HOSTUNREACH", "IDRM",
	"ILSEQ", "INPROGRESS", "INTR", "INVAL", "IO", "ISCONN", "ISDIR", "LOOP", "MFILE", "MLINK",
	"MSGSIZE", "MULTIHOP", "NAMETOOLONG", "NETDOWN", "NETRESET", "NETUNREACH", "NFILE",
	"NOBUFS", "NODEV", "NOENT", "NOEXEC", "NOLCK", "NOLINK", "NOMEM", "NOMSG", "NOPROTOOPT",
	"NOSPC", "NOSYS", "NOTCONN", "NOTDIR", "NOTEMPTY", "NOTRECOVERABLE", "NOTSOCK", "NOTSUP",
	"NOTTY", "NXIO", "OVERFLOW", "OWNERDEAD", "PERM", "PIPE", "PROTO", "PROTONOSUPPORT",
	"PROTOTYPE", "RANGE", "ROFS", "SPIPE", "SRCH", "STALE", "TIMEDOUT", "TXTBSY", "XDEV",
	"NOTCAPABLE",
}

// String is the errno's witx name, such as "NOENT".
func (e Errno) String() string {
	if int(e) < len(errnoNames) {
		return errnoNames[e]
	}
	return "errno(" + itoa(uint64(e)) + ")"
}

// Error makes an Errno usable as a Go error (in tests and logs).
func (e Errno) Error() string { return "wasi: " + e.String() }

// hostErrnos maps Linux errno values to WASI ones. Values that have no WASI twin are
// absent and map to ErrnoIo.
var hostErrnos = map[syscall.Errno]Errno{
	syscall.E2BIG: Errno2big, syscall.EACCES: ErrnoAcces, syscall.EADDRINUSE: ErrnoAddrinuse,
	syscall.EADDRNOTAVAIL: ErrnoAddrnotavail, syscall.EAFNOSUPPORT: ErrnoAfnosupport,
	syscall.EAGAIN: ErrnoAgain, syscall.EALREADY: ErrnoAlready, syscall.EBADF: ErrnoBadf,
	syscall.EBADMSG: ErrnoBadmsg, syscall.EBUSY: ErrnoBusy, syscall.ECANCELED: ErrnoCanceled,
	syscall.ECHILD: ErrnoChild, syscall.ECONNABORTED: ErrnoConnaborted,
	syscall.ECONNREFUSED: ErrnoConnrefused, syscall.ECONNRESET: ErrnoConnreset,
	syscall.EDEADLK: ErrnoDeadlk, syscall.EDESTADDRREQ: ErrnoDestaddrreq, syscall.EDOM: ErrnoDom,
	syscall.EDQUOT: ErrnoDquot, syscall.EEXIST: ErrnoExist, syscall.EFAULT: ErrnoFault,
	syscall.EFBIG: ErrnoFbig, syscall.EHOSTUNREACH: ErrnoHostunreach, syscall.EIDRM: ErrnoIdrm,
	syscall.EILSEQ: ErrnoIlseq, syscall.EINPROGRESS: ErrnoInprogress, syscall.EINTR: ErrnoIntr,
	syscall.EINVAL: ErrnoInval, syscall.EIO: ErrnoIo, syscall.EISCONN: ErrnoIsconn,
	syscall.EISDIR: ErrnoIsdir, syscall.ELOOP: ErrnoLoop, syscall.EMFILE: ErrnoMfile,
	syscall.EMLINK: ErrnoMlink, syscall.EMSGSIZE: ErrnoMsgsize, syscall.EMULTIHOP: ErrnoMultihop,
	syscall.ENAMETOOLONG: ErrnoNametoolong, syscall.ENETDOWN: ErrnoNetdown,
	syscall.ENETRESET: ErrnoNetreset, syscall.ENETUNREACH: ErrnoNetunreach,
	syscall.ENFILE: ErrnoNfile, syscall.ENOBUFS: ErrnoNobufs, syscall.ENODEV: ErrnoNodev,
	syscall.ENOENT: ErrnoNoent, syscall.ENOEXEC: ErrnoNoexec, syscall.ENOLCK: ErrnoNolck,
	syscall.ENOLINK: ErrnoNolink, syscall.ENOMEM: ErrnoNomem, syscall.ENOMSG: ErrnoNomsg,
	syscall.ENOPROTOOPT: ErrnoNoprotoopt, syscall.ENOSPC: ErrnoNospc, syscall.ENOSYS: ErrnoNosys,
	syscall.ENOTCONN: ErrnoNotconn, syscall.ENOTDIR: ErrnoNotdir, syscall.ENOTEMPTY: ErrnoNotempty,
	syscall.ENOTRECOVERABLE: ErrnoNotrecoverable, syscall.ENOTSOCK: ErrnoNotsock,
	syscall.ENOTSUP: ErrnoNotsup, syscall.ENOTTY: ErrnoNotty, syscall.ENXIO: ErrnoNxio,
	syscall.EOVERFLOW: ErrnoOverflow, syscall.EOWNERDEAD: ErrnoOwnerdead, syscall.EPERM: ErrnoPerm,
	syscall.EPIPE: ErrnoPipe, syscall.EPROTO: ErrnoProto,
	syscall.EPROTONOSUPPORT: ErrnoProtonosupport, syscall.EPROTOTYPE: ErrnoPrototype,
	syscall.ERANGE: ErrnoRange, syscall.EROFS: ErrnoRofs, syscall.ESPIPE: ErrnoSpipe,
	syscall.ESRCH: ErrnoSrch, syscall.ESTALE: ErrnoStale, syscall.ETIMEDOUT: ErrnoTimedout,
	syscall.ETXTBSY: ErrnoTxtbsy, syscall.EXDEV: ErrnoXdev,
}

// ErrnoOf translates a host error into the errno a guest sees.
//
// # Notes
//
//   - The underlying syscall.Errno decides when there is one (os and os.Root wrap it
//     in *fs.PathError, *os.LinkError or *os.SyscallError).
//   - os.Root reports a path that leaves the root with an error that wraps no errno
//     ("path escapes from parent"). wasmtime (cap-std) answers such paths with
//     ERRNO_PERM, and so do we; ErrnoNotcapable is kept for missing rights.
//   - A bare syscall.Errno, what a read or write on a socket returns (EAGAIN on every
//     non-blocking read that finds nothing), is translated without errors.As, whose
//     targets escape: two allocations per call on a server's hot path.
func ErrnoOf(err error) Errno {
	if err == nil {
		return ErrnoSuccess
	}
	if se, ok := err.(syscall.Errno); ok {
		if w, ok := hostErrnos[se]; ok {
			return w
		}
		return ErrnoIo
	}
	var e Errno
	if errors.As(err, &e) {
		return e
	}
	var se syscall.Errno
	if errors.As(err, &se) {
		if w, ok := hostErrnos[se]; ok {
			return w
		}
		return ErrnoIo
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrnoNoent
	case errors.Is(err, fs.ErrExist):
		return ErrnoExist
	case errors.Is(err, fs.ErrPermission):
		return ErrnoPerm
	case errors.Is(err, os.ErrClosed):
		return ErrnoBadf
	case isEscape(err):
		return ErrnoPerm
	}
	return ErrnoIo
}

// isEscape reports whether err is os.Root's refusal of a path that leaves the root,
// which Go does not export as a sentinel.
func isEscape(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s := e.Error(); s == "path escapes from parent" {
			return true
		}
	}
	return false
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
