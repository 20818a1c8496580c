import { describe, expect, it } from "vitest";
import { EMFILE } from "../../src/abi/uapi/errno.ts";
import { FilesStruct, INR_OPEN_CUR } from "../../src/kernel/fs/fdtable.ts";
import { Snapshot } from "../../src/sim/snapshot.ts";

describe("the file descriptor table (fs/file.c)", () => {
  it("hands out the lowest free descriptor up to RLIMIT_NOFILE, then EMFILE, growing past its first slots", () => {
    const files = new FilesStruct();
    for (let fd = 0; fd < INR_OPEN_CUR; fd++) expect(files.getUnusedFdFlags(0)).toBe(fd);
    expect(files.getUnusedFdFlags(0)).toBe(-EMFILE);
    expect(files.count).toBe(INR_OPEN_CUR);
    files.putUnusedFd(700);
    files.putUnusedFd(3);
    expect(files.getUnusedFdFlags(0)).toBe(3);
    expect(files.getUnusedFdFlags(0)).toBe(700);
    expect(files.getUnusedFdFlags(0)).toBe(-EMFILE);
  });

  it("keeps a limit that is not a power of two", () => {
    const files = new FilesStruct(100);
    for (let fd = 0; fd < 100; fd++) expect(files.getUnusedFdFlags(0)).toBe(fd);
    expect(files.getUnusedFdFlags(0)).toBe(-EMFILE);
  });

  it("a snapshot restore takes a table expanded since back to its slots then", () => {
    const files = new FilesStruct();
    expect(files.getUnusedFdFlags(0)).toBe(0);
    const snap = Snapshot.take(files);
    for (let fd = 1; fd < 300; fd++) expect(files.getUnusedFdFlags(0)).toBe(fd);
    snap.restore();
    expect(files.count).toBe(1);
    expect(files.getUnusedFdFlags(0)).toBe(1);
    files.putUnusedFd(1);
    snap.restore();
    for (let fd = 1; fd < 300; fd++) expect(files.getUnusedFdFlags(0)).toBe(fd);
    expect(files.count).toBe(300);
  });
});
