/** Whether dist/ holds a build newer than every file under src/. */
export function distIsCurrent(): boolean;
