/*
 * longpath — a process whose smaps is gigabytes long, as any unprivileged user can make one:
 * builds a directory chain far longer than PATH_MAX under DIR (argv[1]) with mkdir + chdir,
 * creates one page-sized file at its end, and maps that page COUNT times (argv[2], default
 * 65000; stops early if the kernel refuses). Every smaps record then carries the whole path.
 * Prints "path_bytes N" (the file's path length as the kernel prints it), "mapped N" and
 * "ready", then waits.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    long count = argc > 2 ? atol(argv[2]) : 65000;
    if (chdir(argv[1]) != 0) {
        perror("chdir");
        return 2;
    }
    char name[201];
    memset(name, 'd', 200);
    name[200] = 0;
    size_t path_bytes = strlen(argv[1]);
    for (int level = 0; level < 200; level++) {
        if (mkdir(name, 0700) != 0 || chdir(name) != 0) {
            perror("mkdir/chdir");
            return 2;
        }
        path_bytes += 1 + 200;
    }
    int fd = open("f", O_RDWR | O_CREAT, 0600);
    if (fd < 0 || ftruncate(fd, 4096) != 0) {
        perror("open f");
        return 2;
    }
    path_bytes += 2;
    long made = 0;
    for (; made < count; made++) {
        /* Offset 0 every time: neighbouring mappings never merge into one VMA. */
        if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
            break;
    }
    printf("path_bytes %zu\n", path_bytes);
    printf("mapped %ld\n", made);
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
