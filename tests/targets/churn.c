/*
 * churn — starts and ends processes (and threads) as fast as it can for a while, to sweep a
 * machine under churn. Each child maps a file named after its own pid (DIR/churn-PID), starts
 * two threads, lives 0–20 ms and exits; every 16th child lives 400 ms instead, so that a sweep
 * on a slow, loaded machine still meets some children alive. Up to 64 live at once.
 *
 * usage: churn DIR MILLISECONDS
 * Prints "ready" at once, "spawned N" at the end.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *nap(void *arg) {
    usleep((useconds_t)(long)arg);
    return NULL;
}

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: churn DIR MILLISECONDS\n");
        return 2;
    }
    long until = now_ms() + atol(argv[2]);
    printf("ready\n");
    fflush(stdout);
    long spawned = 0;
    int live = 0;
    while (now_ms() < until) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            live--;
        if (live >= 64) {
            usleep(200);
            continue;
        }
        int long_lived = spawned % 16 == 0;
        pid_t pid = fork();
        if (pid == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/churn-%d", argv[1], getpid());
            int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0 && ftruncate(fd, 4096) == 0)
                mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
            pthread_t t[2];
            long life = long_lived ? 400000 : (getpid() * 7919L) % 20000;
            for (int i = 0; i < 2; i++)
                pthread_create(&t[i], NULL, nap, (void *)life);
            usleep((useconds_t)life);
            unlink(path);
            _exit(0);
        }
        if (pid > 0) {
            live++;
            spawned++;
        }
    }
    while (wait(NULL) > 0) {
    }
    printf("spawned %ld\n", spawned);
    fflush(stdout);
    return 0;
}
