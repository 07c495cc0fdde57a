#define _GNU_SOURCE /* mkostemp */
#include "util/output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

struct fid__output {
    FILE *f;
    char *path;   /* as given */
    char *target; /* the file renamed over (whole files) */
    char *tmp;    /* NULL: written in place */
    int is_stdout;
    int regular; /* written in place to a regular file: a cut record can be taken back */
};

int fid__resolve_target(const char *path, char *out, size_t size) {
    if (snprintf(out, size, "%s", path) >= (int)size) return errno = ENAMETOOLONG, -1;
    for (int hops = 0; hops < 40; hops++) {
        char link[PATH_MAX];
        ssize_t n = readlink(out, link, sizeof link - 1);
        if (n < 0) return errno == EINVAL || errno == ENOENT ? 0 : -1; /* not a link, or nothing there yet */
        link[n] = 0;
        if (link[0] == '/') {
            if (snprintf(out, size, "%s", link) >= (int)size) return errno = ENAMETOOLONG, -1;
        } else { /* relative to the link's directory */
            char *slash = strrchr(out, '/');
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - out) : 0, out);
            if (snprintf(out, size, "%s%s%s", dir, slash ? "/" : "", link) >= (int)size)
                return errno = ENAMETOOLONG, -1;
        }
    }
    return errno = ELOOP, -1;
}

static fid_status fail_errno(const char *path, const char *what, int err) {
    return fid__fail(FID_ERR_IO, "%s: %s: %s", path, what, strerror(err));
}

static void release(fid__output *o) {
    free(o->path);
    free(o->target);
    free(o->tmp);
    free(o);
}

fid_status fid__output_open(const char *path, int kind, int mode, fid__output **out) {
    *out = NULL;
    if (!path || !*path) return fid__fail(FID_ERR_INVALID_ARGUMENT, "an output needs a file name");
    fid__output *o = calloc(1, sizeof *o);
    if (!o || !(o->path = strdup(path))) {
        free(o);
        return fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    if (!strcmp(path, "-")) {
        o->f = stdout;
        o->is_stdout = 1;
        *out = o;
        return FID_OK;
    }
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    if (exists && S_ISDIR(sb.st_mode)) {
        release(o);
        return fid__fail(FID_ERR_IO, "%s: is a directory", path);
    }
    /* /dev/stdout, /dev/fd/N and /proc/.../fd/N are whatever the descriptor is (a pipe, or a
     * file the shell opened): only writing through them reaches it */
    int magic = !strncmp(path, "/dev/", 5) || !strncmp(path, "/proc/", 6);
    if (kind == FID__OUTPUT_STREAM || magic || (exists && !S_ISREG(sb.st_mode))) {
        /* in place: a stream, or a FIFO / device / terminal that must receive the bytes */
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0 && errno == EINVAL && exists) fd = open(path, O_WRONLY | O_CLOEXEC); /* O_TRUNC on some devices */
        if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
            int err = errno;
            if (fd >= 0) close(fd);
            release(o);
            return fail_errno(path, "cannot create", err);
        }
        o->regular = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
        *out = o;
        return FID_OK;
    }
    /* the file renamed over: a regular file's real path, or what a dangling link would create */
    char target[PATH_MAX];
    if (exists ? !realpath(path, target) : fid__resolve_target(path, target, sizeof target) != 0) {
        int err = errno;
        release(o);
        return fail_errno(path, "cannot follow", err);
    }
    const char *slash = strrchr(target, '/');
    size_t tlen = strlen(target) + 32;
    if (!(o->target = strdup(target)) || !(o->tmp = malloc(tlen))) {
        release(o);
        return fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    /* hidden, in the target's directory (rename is atomic only within one file system) */
    snprintf(o->tmp, tlen, "%.*s.%s.XXXXXX", slash ? (int)(slash - target + 1) : 0, target, slash ? slash + 1 : target);
    int fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        release(o);
        return fail_errno(path, "cannot create", err);
    }
    if (exists) { /* the replacement looks like what it replaces */
        fchmod(fd, sb.st_mode & 07777);
        if (fchown(fd, sb.st_uid, sb.st_gid) != 0) { /* not ours to give away: keep our own */
        }
    } else {
        mode_t mask = umask(0);
        umask(mask);
        fchmod(fd, (mode_t)mode & ~mask);
    }
    if (!(o->f = fdopen(fd, "w"))) {
        int err = errno;
        close(fd);
        unlink(o->tmp);
        release(o);
        return fail_errno(path, "cannot create", err);
    }
    *out = o;
    return FID_OK;
}

FILE *fid__output_file(fid__output *o) { return o ? o->f : NULL; }

int fid__output_write_record(fid__output *o, const char *data, size_t len) {
    int fd = fileno(o->f);
    if (fflush(o->f) != 0) return -1; /* anything written through the FILE goes first */
    off_t start = o->regular ? lseek(fd, 0, SEEK_CUR) : -1;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            /* a record cut by a full disk or ulimit -f is taken back: readers see whole lines */
            if (start >= 0 && done > 0 && ftruncate(fd, start) == 0) lseek(fd, start, SEEK_SET);
            errno = err;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}
int fid__output_in_place(const fid__output *o) { return o && !o->tmp; }
const char *fid__output_path(const fid__output *o) { return !o ? "" : o->is_stdout ? "standard output" : o->path; }

fid_status fid__output_commit(fid__output *o) {
    if (!o) return FID_OK;
    fid_status st = FID_OK;
    int err = 0;
    if (fflush(o->f) != 0) err = errno;
    if (!err && ferror(o->f)) err = EIO; /* an earlier write failed; its errno is gone */
    if (o->is_stdout) {
        if (err) st = fail_errno("standard output", "cannot write", err);
        release(o);
        return st;
    }
    /* data on disk before the name points at it: a power cut leaves the old file or the new one */
    if (!err && o->tmp && fsync(fileno(o->f)) != 0) err = errno;
    if (fclose(o->f) != 0 && !err) err = errno;
    if (!err && o->tmp && rename(o->tmp, o->target) != 0) err = errno;
    if (err) {
        st = fail_errno(o->path, "cannot write", err);
        if (o->tmp) unlink(o->tmp);
    }
    release(o);
    return st;
}

void fid__output_abort(fid__output *o) {
    if (!o) return;
    if (o->is_stdout) {
        fflush(o->f);
    } else {
        fclose(o->f);
        if (o->tmp) unlink(o->tmp);
    }
    release(o);
}
