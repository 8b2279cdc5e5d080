-- q1, currency conversion: dollars to euros (DECIMAL(23, 3)).
SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid;
