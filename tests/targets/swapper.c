/*
 * swapper — the attacker of the output tests: watches a directory it owns (inotify) and, each
 * time an entry whose name starts with PREFIX appears (MODE "create") or is closed after
 * writing (MODE "close"), moves that entry away and puts a symbolic link to TARGET at its
 * name — the swap a reviewer made by hand between vmpipe's steps.
 *
 * usage: swapper DIR PREFIX MODE TARGET
 * Prints "ready" once watching, then "swapped NAME" for each swap, until killed.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: swapper DIR PREFIX create|close TARGET\n");
        return 2;
    }
    const char *dir = argv[1], *prefix = argv[2], *mode = argv[3], *target = argv[4];
    int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0) {
        perror("inotify_init1");
        return 2;
    }
    uint32_t mask = strcmp(mode, "close") == 0 ? IN_CLOSE_WRITE : IN_CREATE;
    if (inotify_add_watch(fd, dir, mask) < 0) {
        perror("inotify_add_watch");
        return 2;
    }
    if (chdir(dir) != 0) {
        perror("chdir");
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    unsigned long n = 0;
    for (;;) {
        ssize_t len = read(fd, buf, sizeof buf);
        if (len <= 0)
            return 1;
        for (char *p = buf; p < buf + len;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->len == 0 || strncmp(ev->name, prefix, strlen(prefix)) != 0)
                continue;
            char moved[64], link[64];
            snprintf(moved, sizeof moved, "moved-%lu", n);
            snprintf(link, sizeof link, "link-%lu", n);
            n++;
            if (rename(ev->name, moved) != 0)
                continue;
            if (symlink(target, link) != 0 || rename(link, ev->name) != 0)
                continue;
            printf("swapped %s\n", ev->name);
            fflush(stdout);
        }
    }
}
