package testguest

// CWasmEdge is a C guest that calls the WasmEdge socket extension through its own import
// declarations (wasi-libc knows nothing of it). Built with -DV1 it imports the v1
// signatures (sock_accept with 2 parameters, sock_recv_from with 7,
// sock_getlocaladdr/sock_getpeeraddr with 4), with -DV2 the v2 ones. argv[1] picks a
// scenario; the guest prints "KEY value" lines for the test, "FAIL ..." and exits 1
// when a check fails, exits 0 when all pass. Errno values are witx's, written out.
const CWasmEdge = `#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IMP(n) __attribute__((import_module("wasi_snapshot_preview1"), import_name(n)))

enum { E_SUCCESS = 0, E_ADDRNOTAVAIL = 4, E_AGAIN = 6, E_BADF = 8, E_CONNREFUSED = 14,
	E_FAULT = 21, E_INVAL = 28, E_NETUNREACH = 40, E_NOMEM = 48, E_NOPROTOOPT = 50,
	E_NOSYS = 52, E_NOTCONN = 53, E_NOTSOCK = 57, E_NOTSUP = 58,
	E_AIAGAIN = 78, E_AIBADFLAG = 79, E_AIFAMILY = 81, E_AIMEMORY = 82, E_AINONAME = 84 };

typedef struct { uint8_t *buf; uint32_t len; } waddr;
typedef struct { void *buf; uint32_t len; } wiov;
typedef struct {
	uint16_t flags; uint8_t family; uint8_t socktype; uint32_t protocol; uint32_t addrlen;
	struct wsockaddr *addr; char *canonname; uint32_t canonname_len; void *next;
} waddrinfo;
struct wsockaddr { uint32_t family; uint32_t data_len; uint8_t *data; };

IMP("sock_open") uint32_t e_open(uint32_t af, uint32_t type, uint32_t *fd);
IMP("sock_bind") uint32_t e_bind(uint32_t fd, waddr *a, uint32_t port);
IMP("sock_listen") uint32_t e_listen(uint32_t fd, uint32_t backlog);
IMP("sock_connect") uint32_t e_connect(uint32_t fd, waddr *a, uint32_t port);
IMP("sock_send_to") uint32_t e_send_to(uint32_t fd, wiov *iovs, uint32_t n, waddr *a, uint32_t port, uint32_t flags, uint32_t *nw);
IMP("sock_setsockopt") uint32_t e_setsockopt(uint32_t fd, uint32_t level, uint32_t name, void *v, uint32_t len);
IMP("sock_getsockopt") uint32_t e_getsockopt(uint32_t fd, uint32_t level, uint32_t name, void *v, uint32_t *len);
IMP("sock_getaddrinfo") uint32_t e_getaddrinfo(const char *node, uint32_t nodelen, const char *serv, uint32_t servlen,
	waddrinfo *hints, waddrinfo **res, uint32_t max, uint32_t *n);
#ifdef V1
IMP("sock_accept") uint32_t e_accept(uint32_t fd, uint32_t *nfd);
IMP("sock_recv_from") uint32_t e_recv_from(uint32_t fd, wiov *iovs, uint32_t n, waddr *a, uint32_t flags, uint32_t *nread, uint16_t *oflags);
IMP("sock_getlocaladdr") uint32_t e_local(uint32_t fd, waddr *a, uint32_t *type, uint32_t *port);
IMP("sock_getpeeraddr") uint32_t e_peer(uint32_t fd, waddr *a, uint32_t *type, uint32_t *port);
#else
IMP("sock_recv_from") uint32_t e_recv_from(uint32_t fd, wiov *iovs, uint32_t n, waddr *a, uint32_t flags, uint16_t *port, uint32_t *nread, uint16_t *oflags);
IMP("sock_getlocaladdr") uint32_t e_local(uint32_t fd, waddr *a, uint32_t *port);
IMP("sock_getpeeraddr") uint32_t e_peer(uint32_t fd, waddr *a, uint32_t *port);
#endif

static void put(const char *s) { write(1, s, strlen(s)); }
static void putn(long v) {
	char b[24]; int i = sizeof b; int neg = v < 0; unsigned long u = neg ? -v : v;
	do { b[--i] = '0' + u % 10; u /= 10; } while (u);
	if (neg) b[--i] = '-';
	write(1, b + i, sizeof b - i);
}
static void kv(const char *k, long v) { put(k); put(" "); putn(v); put("\n"); }
#define EQ(got, want, what) do { long g_ = (long)(got), w_ = (long)(want); if (g_ != w_) { \
	put("FAIL line "); putn(__LINE__); put(": " what ": got "); putn(g_); put(", want "); putn(w_); put("\n"); _exit(1); } } while (0)

static uint8_t lo4[4] = {127, 0, 0, 1};
static uint8_t any4[4] = {0, 0, 0, 0};
static uint8_t lo6[16] = {0,0,0,0, 0,0,0,0, 0,0,0,0, 0,0,0,1};

// v2 address storage: u16 family, then the address.
static void storage(uint8_t st[128], int fam, const uint8_t *a) {
	memset(st, 0, 128); st[0] = fam; memcpy(st + 2, a, fam == 1 ? 4 : 16);
}

static uint32_t must_open(uint32_t af, uint32_t type) {
	uint32_t fd = 0;
	EQ(e_open(af, type, &fd), E_SUCCESS, "sock_open");
	return fd;
}

static uint32_t local_port(uint32_t fd, uint8_t *addr16, uint32_t *fam) {
	uint32_t port = 0;
#ifdef V1
	waddr a = {addr16, 16};
	EQ(e_local(fd, &a, fam, &port), E_SUCCESS, "sock_getlocaladdr v1");
#else
	uint8_t st[128]; waddr a = {st, 128};
	EQ(e_local(fd, &a, &port), E_SUCCESS, "sock_getlocaladdr v2");
	*fam = st[0] | st[1] << 8;
	memcpy(addr16, st + 2, 16);
#endif
	return port;
}

static uint32_t peer_port(uint32_t fd, uint8_t *addr16, uint32_t *fam) {
	uint32_t port = 0;
#ifdef V1
	waddr a = {addr16, 16};
	EQ(e_peer(fd, &a, fam, &port), E_SUCCESS, "sock_getpeeraddr v1");
#else
	uint8_t st[128]; waddr a = {st, 128};
	EQ(e_peer(fd, &a, &port), E_SUCCESS, "sock_getpeeraddr v2");
	*fam = st[0] | st[1] << 8;
	memcpy(addr16, st + 2, 16);
#endif
	return port;
}

#ifdef V1
#define FAM4 4
#define FAM6 6
#else
#define FAM4 1
#define FAM6 2
#endif

// errnos: argument checks that need no network.
static void errnos(void) {
	uint32_t fd;
	EQ(e_open(9, 2, &fd), E_INVAL, "sock_open bad family");
	EQ(e_open(3, 2, &fd), E_NOSYS, "sock_open AF_UNIX");
	EQ(e_open(1, 0, &fd), E_INVAL, "sock_open SOCK_ANY");
	EQ(e_open(1, 2, (uint32_t *)0xfffffff0), E_FAULT, "sock_open fd out of memory");
	waddr a = {lo4, 4};
	EQ(e_bind(999, &a, 0), E_BADF, "sock_bind unknown fd");
	EQ(e_bind(1, &a, 0), E_NOTSOCK, "sock_bind on stdout");
	fd = must_open(1, 2);
	waddr bad = {lo4, 5};
	EQ(e_bind(fd, &bad, 0), E_INVAL, "sock_bind 5-byte address");
	waddr far = {(uint8_t *)0xfffffffe, 4};
	EQ(e_bind(fd, &far, 0), E_FAULT, "sock_bind address out of memory");
	EQ(e_bind(fd, (waddr *)0xfffffffc, 0), E_FAULT, "sock_bind WasiAddress out of memory");
	uint8_t st[128]; storage(st, 1, lo4); st[0] = 7; waddr sa = {st, 128};
	EQ(e_bind(fd, &sa, 0), E_INVAL, "sock_bind unknown family in storage");
	int v = 1; uint32_t len = 4;
	EQ(e_setsockopt(fd, 0, 99, &v, 4), E_INVAL, "setsockopt unknown name");
	EQ(e_setsockopt(fd, 5, 0, &v, 4), E_INVAL, "setsockopt unknown level");
	EQ(e_setsockopt(fd, 0, 11, &v, 4), E_NOTSUP, "setsockopt SO_RCVTIMEO");
	EQ(e_setsockopt(fd, 6, 1, &v, 4), E_SUCCESS, "setsockopt TCP_NODELAY");
	v = 0; len = 4;
	EQ(e_getsockopt(fd, 6, 1, &v, &len), E_SUCCESS, "getsockopt TCP_NODELAY");
	EQ(v != 0, 1, "TCP_NODELAY set");
	EQ(e_getsockopt(fd, 6, 2, &v, &len), E_NOPROTOOPT, "getsockopt other TCP option");
	EQ(e_setsockopt(fd, 0, 0, &v, 0xfffffff0), E_FAULT, "setsockopt value out of memory");
	v = 7; len = 4;
	EQ(e_getsockopt(fd, 0, 1, &v, &len), E_SUCCESS, "getsockopt SO_TYPE");
	EQ(v, 2, "SO_TYPE of a stream socket"); EQ(len, 4, "SO_TYPE length");
	v = 7; len = 4;
	EQ(e_getsockopt(fd, 0, 2, &v, &len), E_SUCCESS, "getsockopt SO_ERROR");
	EQ(v, 0, "SO_ERROR of a fresh socket");
	len = 2;
	EQ(e_getsockopt(fd, 0, 2, &v, &len), E_INVAL, "getsockopt into 2 bytes");
	v = 7;
	EQ(e_getsockopt(fd, 0, 1, &v, (uint32_t *)4), E_SUCCESS, "getsockopt, length by value (stealthrocket/net)");
	EQ(v, 2, "SO_TYPE, length by value");
	uint32_t port, fam; uint8_t addr[16];
#ifdef V1
	waddr a5 = {addr, 5};
	EQ(e_peer(fd, &a5, &fam, &port), E_INVAL, "getpeeraddr v1 5-byte buffer");
	waddr a16 = {addr, 16};
	EQ(e_peer(fd, &a16, &fam, &port), E_NOTCONN, "getpeeraddr unconnected");
#else
	waddr a16 = {addr, 16};
	EQ(e_peer(fd, &a16, &port), E_INVAL, "getpeeraddr v2 16-byte buffer");
	uint8_t s2[128]; waddr a128 = {s2, 128};
	EQ(e_peer(fd, &a128, &port), E_NOTCONN, "getpeeraddr unconnected");
#endif
	wiov iov = {"x", 1}; uint32_t nw;
	EQ(e_send_to(fd, &iov, 1, &a, 9, 1, &nw), E_INVAL, "send_to with siflags");
	close(fd);
	fd = must_open(1, 1);
	v = 0; len = 4;
	EQ(e_getsockopt(fd, 0, 1, &v, &len), E_SUCCESS, "getsockopt SO_TYPE");
	EQ(v, 1, "SO_TYPE of a datagram socket");
	close(fd);
	put("OK errnos\n");
}

// server: listen on 127.0.0.1:0, accept one connection, echo what it sends, upper-cased.
static void server(void) {
	uint32_t fd = must_open(1, 2);
	int one = 1;
	EQ(e_setsockopt(fd, 0, 0, &one, 4), E_SUCCESS, "SO_REUSEADDR");
	int v = 0; uint32_t len = 4;
	EQ(e_getsockopt(fd, 0, 0, &v, &len), E_SUCCESS, "getsockopt SO_REUSEADDR");
	EQ(v != 0, 1, "SO_REUSEADDR set");
#ifdef V1
	waddr a = {lo4, 4};
#else
	uint8_t st[128]; storage(st, 1, lo4); waddr a = {st, 128};
#endif
	EQ(e_bind(fd, &a, 0), E_SUCCESS, "sock_bind");
	EQ(e_listen(fd, 8), E_SUCCESS, "sock_listen");
	uint8_t addr[16] = {0}; uint32_t fam = 0;
	uint32_t port = local_port(fd, addr, &fam);
	EQ(fam, FAM4, "local address family");
	EQ(memcmp(addr, lo4, 4), 0, "local address is 127.0.0.1");
	kv("PORT", port);
	uint32_t c = 0;
#ifdef V1
	EQ(e_accept(fd, &c), E_SUCCESS, "sock_accept v1");
#else
	EQ(1, 0, "the v2 guest has no server: sock_accept v2 is preview1's");
#endif
	uint32_t pport = peer_port(c, addr, &fam);
	EQ(fam, FAM4, "peer family");
	EQ(memcmp(addr, lo4, 4), 0, "peer is 127.0.0.1");
	kv("PEER", pport);
	char buf[64]; ssize_t n;
	while ((n = read(c, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++) if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] -= 32;
		EQ(write(c, buf, n), n, "write");
	}
	EQ(n, 0, "read to end of stream");
	close(c);
	close(fd);
	put("OK server\n");
}

// client: connect to 127.0.0.1:argv (blocking), send "hello", expect "HELLO"; then a
// connect to a closed port is refused.
static void client(uint32_t port, uint32_t closed, int v6) {
	uint32_t fd = must_open(v6 ? 2 : 1, 2);
	uint8_t st[128];
	waddr a;
	if (v6) { a.buf = lo6; a.len = 16; }
#ifdef V1
	else { a.buf = lo4; a.len = 4; }
#else
	else { storage(st, 1, lo4); a.buf = st; a.len = 128; }
#endif
	EQ(e_connect(fd, &a, port), E_SUCCESS, "sock_connect");
	uint8_t addr[16] = {0}; uint32_t fam = 0;
	EQ(peer_port(fd, addr, &fam), port, "peer port");
	EQ(fam, v6 ? FAM6 : FAM4, "peer family");
	EQ(memcmp(addr, v6 ? lo6 : lo4, v6 ? 16 : 4), 0, "peer address");
	kv("LOCALPORT", local_port(fd, addr, &fam));
	EQ(write(fd, "hello", 5), 5, "write");
	char buf[16]; int got = 0; ssize_t n;
	while (got < 5 && (n = read(fd, buf + got, sizeof buf - got)) > 0) got += n;
	EQ(got, 5, "reply length");
	EQ(memcmp(buf, "HELLO", 5), 0, "reply");
	close(fd);
	if (closed) {
		fd = must_open(1, 2);
		waddr c4 = {lo4, 4};
		EQ(e_connect(fd, &c4, closed), E_CONNREFUSED, "connect to a closed port");
		close(fd);
	}
	put("OK client\n");
}

// udp: bind 127.0.0.1:0, receive a datagram (into a 4-byte buffer: truncated), answer
// "pong" to the test's socket at argv.
static void udp(uint32_t peer) {
	uint32_t fd = must_open(1, 1);
	waddr a = {lo4, 4};
	EQ(e_bind(fd, &a, 0), E_SUCCESS, "sock_bind");
	uint8_t addr[16]; uint32_t fam;
	kv("PORT", local_port(fd, addr, &fam));
	char buf[4]; wiov iov = {buf, 4};
	uint32_t nread = 0; uint16_t oflags = 9;
#ifdef V1
	uint8_t from[16] = {0}; waddr fa = {from, 16};
	EQ(e_recv_from(fd, &iov, 1, &fa, 0, &nread, &oflags), E_SUCCESS, "sock_recv_from v1");
	EQ(memcmp(from, lo4, 4), 0, "sender address");
#else
	uint8_t from[128] = {0}; waddr fa = {from, 128}; uint16_t fport = 0;
	EQ(e_recv_from(fd, &iov, 1, &fa, 0, &fport, &nread, &oflags), E_SUCCESS, "sock_recv_from v2");
	EQ(from[0], 1, "sender family");
	EQ(memcmp(from + 2, lo4, 4), 0, "sender address");
	EQ(fport, peer, "sender port");
	waddr bad = {from, 7};
	EQ(e_recv_from(fd, &iov, 1, &bad, 0, &fport, &nread, &oflags), E_INVAL, "recv_from v2 7-byte buffer");
#endif
	EQ(nread, 4, "bytes received");
	EQ(oflags, 1, "RECV_DATA_TRUNCATED");
	EQ(memcmp(buf, "ping", 4), 0, "datagram");
	wiov out = {"pong", 4}; uint32_t nw = 0;
	EQ(e_send_to(fd, &out, 1, &a, peer, 0, &nw), E_SUCCESS, "sock_send_to");
	EQ(nw, 4, "bytes sent");
	close(fd);
	put("OK udp\n");
}

static uint32_t lookup(const char *node, const char *serv, int family, int socktype, int flags,
		waddrinfo *res, struct wsockaddr *sa, uint8_t data[][26], int max, uint32_t *n) {
	waddrinfo hints; memset(&hints, 0, sizeof hints);
	hints.flags = flags; hints.family = family; hints.socktype = socktype;
	for (int i = 0; i < max; i++) {
		memset(&res[i], 0, sizeof res[i]);
		sa[i].family = 0; sa[i].data_len = 26; sa[i].data = data[i];
		res[i].addr = &sa[i];
		if (i > 0) res[i-1].next = &res[i];
	}
	waddrinfo *first = res;
	return e_getaddrinfo(node, strlen(node), serv, strlen(serv), &hints, &first, max, n);
}

// resolve: getaddrinfo on loopback names and numbers.
static void resolve(void) {
	waddrinfo res[4]; struct wsockaddr sa[4]; uint8_t data[4][26]; uint32_t n = 0;
	EQ(lookup("localhost", "8080", 1, 2, 0, res, sa, data, 4, &n), E_SUCCESS, "getaddrinfo localhost");
	EQ(n >= 1, 1, "one result at least");
	EQ(res[0].family, 1, "ai_family"); EQ(res[0].socktype, 2, "ai_socktype"); EQ(res[0].protocol, 1, "ai_protocol");
	EQ(res[0].addrlen, 16, "ai_addrlen");
	EQ(sa[0].family, 1, "sa_family"); EQ(sa[0].data_len, 14, "sa_data_len");
	EQ(data[0][0] << 8 | data[0][1], 8080, "port, big endian");
	EQ(memcmp(data[0] + 2, lo4, 4), 0, "127.0.0.1");
	EQ(lookup("::1", "443", 2, 1, 4, res, sa, data, 4, &n), E_SUCCESS, "getaddrinfo ::1");
	EQ(n, 1, "one result");
	EQ(res[0].family, 2, "ai_family"); EQ(res[0].socktype, 1, "ai_socktype"); EQ(res[0].protocol, 2, "ai_protocol");
	EQ(sa[0].family, 2, "sa_family"); EQ(sa[0].data_len, 18, "sa_data_len");
	EQ(data[0][0] << 8 | data[0][1], 443, "port");
	EQ(memcmp(data[0] + 2, lo6, 16), 0, "::1");
	EQ(lookup("127.0.0.1", "", 0, 0, 0, res, sa, data, 4, &n), E_SUCCESS, "getaddrinfo any socket type");
	EQ(n, 2, "a stream and a datagram result");
	EQ(res[0].socktype + res[1].socktype, 3, "stream and datagram");
	EQ(lookup("", "80", 1, 2, 1, res, sa, data, 1, &n), E_SUCCESS, "getaddrinfo passive");
	EQ(n, 1, "max_res_len bounds the results");
	EQ(memcmp(data[0] + 2, any4, 4), 0, "passive: 0.0.0.0");
	EQ(lookup("", "", 0, 0, 0, res, sa, data, 4, &n), E_AINONAME, "no node nor service");
	EQ(lookup("localhost", "80", 0, 0, 0, res, sa, data, 0, &n), E_AIMEMORY, "max_res_len 0");
	EQ(lookup("localhost", "80", 7, 0, 0, res, sa, data, 4, &n), E_AIFAMILY, "bad family");
	EQ(lookup("localhost", "80", 0, 0, 0x100, res, sa, data, 4, &n), E_AIBADFLAG, "bad flag");
	EQ(lookup("localhost", "80", 0, 0, 4, res, sa, data, 4, &n), E_AINONAME, "AI_NUMERICHOST with a name");
	EQ(lookup("localhost", "http", 0, 2, 8, res, sa, data, 4, &n), E_AINONAME, "AI_NUMERICSERV with a name");
	put("OK resolve\n");
}

// denied: what a guest sees under DenyAll.
static void denied(uint32_t port) {
	uint32_t fd = must_open(1, 2);
	waddr a = {lo4, 4};
	EQ(e_connect(fd, &a, port), E_NETUNREACH, "connect");
	EQ(e_bind(fd, &a, 0), E_ADDRNOTAVAIL, "bind");
	EQ(e_listen(fd, 1), E_ADDRNOTAVAIL, "listen");
	close(fd);
	fd = must_open(1, 1);
	wiov out = {"x", 1}; uint32_t nw;
	EQ(e_send_to(fd, &out, 1, &a, port, 0, &nw), E_NETUNREACH, "send_to");
	close(fd);
	waddrinfo res[2]; struct wsockaddr sa[2]; uint8_t data[2][26]; uint32_t n = 0;
	EQ(lookup("localhost", "80", 0, 2, 0, res, sa, data, 2, &n), E_AIAGAIN, "getaddrinfo name");
	EQ(lookup("127.0.0.1", "80", 0, 2, 0, res, sa, data, 2, &n), E_AIAGAIN, "getaddrinfo number");
	put("OK denied\n");
}

// mapped: bind 0.0.0.0:argv, which the test's policy maps elsewhere; the guest still
// sees its own address. Accepts one connection (v1) and writes "mapped".
static void mapped(uint32_t port) {
	uint32_t fd = must_open(1, 2);
	waddr a = {any4, 4};
	EQ(e_bind(fd, &a, port), E_SUCCESS, "sock_bind");
	EQ(e_listen(fd, 1), E_SUCCESS, "sock_listen");
	uint8_t addr[16] = {9}; uint32_t fam;
	EQ(local_port(fd, addr, &fam), port, "local port as the guest bound it");
	EQ(memcmp(addr, any4, 4), 0, "local address as the guest bound it");
	put("LISTENING\n");
#ifdef V1
	uint32_t c;
	EQ(e_accept(fd, &c), E_SUCCESS, "sock_accept");
	EQ(write(c, "mapped", 6), 6, "write");
	close(c);
#endif
	close(fd);
	put("OK mapped\n");
}

int main(int argc, char **argv) {
	const char *m = argc > 1 ? argv[1] : "";
	uint32_t p1 = argc > 2 ? atoi(argv[2]) : 0, p2 = argc > 3 ? atoi(argv[3]) : 0;
	if (!strcmp(m, "errnos")) errnos();
	else if (!strcmp(m, "server")) server();
	else if (!strcmp(m, "client")) client(p1, p2, 0);
	else if (!strcmp(m, "client6")) client(p1, 0, 1);
	else if (!strcmp(m, "udp")) udp(p1);
	else if (!strcmp(m, "resolve")) resolve();
	else if (!strcmp(m, "denied")) denied(p1);
	else if (!strcmp(m, "mapped")) mapped(p1);
	else { put("FAIL unknown mode\n"); return 2; }
	return 0;
}
`
