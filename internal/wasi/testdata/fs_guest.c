// fs_guest calls the WASI file-system functions directly (not through libc's
// translation) and prints "name=errno" lines, and "name_data=..." for contents, for
// guest_test.go to assert. fd 3 is a writable mount at "/", fd 4 a read-only one.
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

#define R(name, e) printf("%s=%d\n", name, (int)(e))

static const __wasi_rights_t all = ~(__wasi_rights_t)0;
static const __wasi_rights_t rd =
    ~(__wasi_rights_t)(__WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_DATASYNC |
                       __WASI_RIGHTS_FD_ALLOCATE | __WASI_RIGHTS_FD_FILESTAT_SET_SIZE);
#define FOLLOW __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW
#define DIR __WASI_OFLAGS_DIRECTORY

static char buf[256];

static void show(const char *name, __wasi_fd_t fd, __wasi_filesize_t off) {
	__wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
	__wasi_size_t n = 0;
	__wasi_errno_t e = __wasi_fd_pread(fd, &iov, 1, off, &n);
	printf("%s=%d\n%s_data=%.*s\n", name, (int)e, name, (int)n, buf);
}

int main(void) {
	__wasi_fd_t fd, d;
	__wasi_size_t n;
	__wasi_filesize_t pos;
	__wasi_filestat_t st;

	R("open_file", __wasi_path_open(3, FOLLOW, "f", 0, rd, all, 0, &fd));
	show("pread", fd, 1);
	R("close", __wasi_fd_close(fd));

	// Escapes.
	R("open_dotdot", __wasi_path_open(3, FOLLOW, "../secret", 0, rd, all, 0, &fd));
	R("open_abs", __wasi_path_open(3, FOLLOW, "/etc/passwd", 0, rd, all, 0, &fd));
	R("open_symlink_out", __wasi_path_open(3, FOLLOW, "lout", 0, rd, all, 0, &fd));
	R("open_symlink_up", __wasi_path_open(3, FOLLOW, "lup/etc/passwd", 0, rd, all, 0, &fd));
	R("open_symlink_abs", __wasi_path_open(3, FOLLOW, "labs", 0, rd, all, 0, &fd));
	R("open_symlink_root", __wasi_path_open(3, FOLLOW, "lroot", 0, rd, all, 0, &fd));
	R("symlink_out", __wasi_path_symlink("../secret", 3, "mine"));
	R("open_mine", __wasi_path_open(3, FOLLOW, "mine", 0, rd, all, 0, &fd));
	R("link_out", __wasi_path_link(3, 0, "f", 3, "../hard"));
	R("link_in", __wasi_path_link(3, 0, "../secret", 3, "hard"));
	R("rename_out", __wasi_path_rename(3, "f", 3, "../stolen"));
	R("filestat_out", __wasi_path_filestat_get(3, 0, "../secret", &st));

	// Kinds and flags.
	R("open_nofollow", __wasi_path_open(3, 0, "lf", 0, rd, all, 0, &fd));
	R("open_notdir", __wasi_path_open(3, 0, "f", DIR, rd, all, 0, &fd));
	R("open_dir_write", __wasi_path_open(3, 0, "d", 0, all, all, 0, &fd));
	R("open_missing", __wasi_path_open(3, 0, "nope", 0, rd, all, 0, &fd));

	// A directory fd cannot climb above itself.
	R("open_d", __wasi_path_open(3, 0, "d", DIR, rd, all, 0, &d));
	R("dirfd_dotdot", __wasi_path_open(d, 0, "../f", 0, rd, all, 0, &fd));
	R("dirfd_child", __wasi_path_open(d, 0, "g", 0, rd, all, 0, &fd));
	show("dirfd_read", fd, 0);
	__wasi_fd_close(fd);

	// fd_readdir: the names, in order.
	uint8_t dents[512];
	R("readdir", __wasi_fd_readdir(d, dents, sizeof dents, 0, &n));
	printf("readdir_data=");
	for (__wasi_size_t off = 0; off + sizeof(__wasi_dirent_t) <= n;) {
		__wasi_dirent_t de;
		memcpy(&de, dents + off, sizeof de);
		off += sizeof de;
		printf("%.*s/%d ", (int)de.d_namlen, (char *)dents + off, (int)de.d_type);
		off += de.d_namlen;
	}
	printf("\n");

	// Seeking on every kind of fd.
	R("seek_stdin", __wasi_fd_seek(0, 0, __WASI_WHENCE_CUR, &pos));
	R("seek_dir", __wasi_fd_seek(3, 0, __WASI_WHENCE_SET, &pos));

	// Writing: create, pwrite, size, times.
	R("creat", __wasi_path_open(3, 0, "new", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, all, all, 0, &fd));
	__wasi_ciovec_t ci = {(const uint8_t *)"abc", 3};
	R("pwrite", __wasi_fd_pwrite(fd, &ci, 1, 2, &n));
	__wasi_ciovec_t ci2 = {(const uint8_t *)"xy", 2};
	R("pwrite_start", __wasi_fd_pwrite(fd, &ci2, 1, 0, &n));
	R("seek_end", __wasi_fd_seek(fd, 0, __WASI_WHENCE_END, &pos));
	printf("seek_end_data=%llu\n", (unsigned long long)pos);
	R("fstat", __wasi_fd_filestat_get(fd, &st));
	printf("fstat_data=%llu/%d\n", (unsigned long long)st.size, (int)st.filetype);
	R("set_size", __wasi_fd_filestat_set_size(fd, 4));
	show("after_set_size", fd, 0);
	R("creat_excl_again", __wasi_path_open(3, 0, "new", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, all, all, 0, &d));
	R("set_times", __wasi_path_filestat_set_times(3, 0, "new", 0, 1000000000000000000ull, __WASI_FSTFLAGS_MTIM));
	R("readlink", __wasi_path_readlink(3, "lf", (uint8_t *)buf, sizeof buf, &n));
	printf("readlink_data=%.*s\n", (int)n, buf);
	R("rename", __wasi_path_rename(3, "new", 3, "d/renamed"));
	R("unlink_dir", __wasi_path_unlink_file(3, "d"));
	R("rmdir_file", __wasi_path_remove_directory(3, "f"));

	// The read-only mount.
	R("ro_open_write", __wasi_path_open(4, 0, "f", 0, all, all, 0, &fd));
	R("ro_mkdir", __wasi_path_create_directory(4, "x"));
	R("ro_unlink", __wasi_path_unlink_file(4, "f"));
	R("ro_open_read", __wasi_path_open(4, 0, "f", 0, rd, all, 0, &fd));
	show("ro_read", fd, 0);
	R("xdev_rename", __wasi_path_rename(3, "f", 4, "f2"));
	return 0;
}
