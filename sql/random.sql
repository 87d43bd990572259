-- Seeded pseudo-random numbers from integer arithmetic alone, so that every engine gives
-- the same bits: no engine's random(). P = 2³¹ − 1 is prime, and every product stays
-- below 2⁶³.

-- name: mix
-- One round of mixing of a non-negative integer x: square it modulo P, then an affine step.
SELECT ((CAST(:x AS BIGINT) % 2147483647) * (CAST(:x AS BIGINT) % 2147483647) % 2147483647
        * 48271 + 12345) % 2147483647 AS h;
