/*
 * longpath — a process whose smaps and maps are gigabytes: one file under a path far longer
 * than PATH_MAX (nested directories, each entered with chdir so that no system call sees the
 * whole path), mapped COUNT times one page each (mappings of the same file at the same offset
 * never merge).
 *
 * usage: longpath DIR DEPTH COUNT
 * Prints "path-bytes N" (the length of the mapped file's path), "maps N", then "ready", and
 * waits.
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
    if (argc != 4) {
        fprintf(stderr, "usage: longpath DIR DEPTH COUNT\n");
        return 2;
    }
    int depth = atoi(argv[2]);
    long count = atol(argv[3]);
    if (chdir(argv[1]) != 0) {
        perror("chdir");
        return 2;
    }
    char name[251];
    memset(name, 'd', 250);
    name[250] = 0;
    size_t path = strlen(argv[1]);
    for (int i = 0; i < depth; i++) {
        if ((mkdir(name, 0755) != 0 && access(name, F_OK) != 0) || chdir(name) != 0) {
            perror("mkdir/chdir");
            return 2;
        }
        path += 251;
    }
    int fd = open("mapped", O_RDWR | O_CREAT, 0644);
    if (fd < 0 || ftruncate(fd, 4096) != 0) {
        perror("open");
        return 2;
    }
    path += strlen("/mapped");
    long made = 0;
    for (; made < count; made++) {
        if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
            break;
    }
    printf("path-bytes %zu\n", path);
    printf("maps %ld\n", made);
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
