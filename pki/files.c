/*
 * Writing certificates and keys for meshctl. A key file is created 0600 with O_EXCL, so no
 * moment exists where it is readable by others, and it is never chmod'ed afterwards. The
 * bytes go to a temporary name first: link() then refuses an existing target atomically,
 * and with force rename() replaces it atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pki/pki.h"

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return PKI_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int pki_file_write(const char *path, const void *data, size_t len, unsigned mode, bool force)
{
    if (!path || (!data && len))
        return PKI_EINVAL;
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid()) >= sizeof(tmp))
        return PKI_EINVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
    if (fd < 0)
        return errno == EEXIST ? PKI_EEXIST : PKI_EIO;
    int rc = write_all(fd, data, len);
    if (rc == 0 && fsync(fd) != 0)
        rc = PKI_EIO;
    if (close(fd) != 0 && rc == 0)
        rc = PKI_EIO;
    if (rc == 0) {
        if (force) {
            if (rename(tmp, path) != 0)
                rc = PKI_EIO;
        } else if (link(tmp, path) != 0) {
            rc = errno == EEXIST ? PKI_EEXIST : PKI_EIO;
        }
    }
    unlink(tmp); /* after rename this name is already gone */
    return rc;
}

int pki_file_read(const char *path, char **out, size_t *len)
{
    if (!path || !out)
        return PKI_EINVAL;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return PKI_EIO;
    char *buf = malloc(PKI_MAX_PEM_BYTES + 1);
    if (!buf) {
        fclose(f);
        return PKI_ENOMEM;
    }
    size_t n = fread(buf, 1, PKI_MAX_PEM_BYTES + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || n > PKI_MAX_PEM_BYTES) {
        free(buf);
        return failed ? PKI_EIO : PKI_EBADMSG;
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}
