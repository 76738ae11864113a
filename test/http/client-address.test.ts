import { budgetKeyOf, clientAddress, normalizeAddress } from '../../src/http/client-address';

describe('normalizeAddress', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['::FFFF:cb00:7109', '203.0.113.9'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::1', '::1'],
    ['::', '::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
  ])('reads %j as %j', (value, expected) => {
    expect(normalizeAddress(value)).toBe(expected);
  });

  it.each(['', 'unknown', 'evil.example', '1.2.3', '1.2.3.4.5', '::g', '203.0.113.9:80', '[::1]', '<script>'])(
    'refuses %j',
    (value) => {
      expect(normalizeAddress(value)).toBeUndefined();
    },
  );
});

describe('budgetKeyOf', () => {
  it('keeps an IPv4 address and gives every IPv6 address of one /64 the same key', () => {
    expect(budgetKeyOf('203.0.113.9')).toBe('203.0.113.9');
    expect(budgetKeyOf('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(budgetKeyOf('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(budgetKeyOf('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(budgetKeyOf('::1')).toBe('0:0:0:0::/64');
  });
});

describe('clientAddress', () => {
  it('uses the socket address, normalised, when no proxy is trusted', () => {
    expect(clientAddress('::ffff:198.51.100.4', '203.0.113.9', 0)).toBe('198.51.100.4');
    expect(clientAddress(undefined, undefined, 0)).toBe('unknown');
  });

  it('reads trusted hops from the right of X-Forwarded-For', () => {
    expect(clientAddress('10.0.0.1', '203.0.113.9', 1)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', '198.51.100.1, 203.0.113.9', 1)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', '198.51.100.1, 203.0.113.9', 2)).toBe('198.51.100.1');
    expect(clientAddress('10.0.0.1', ['198.51.100.1', '203.0.113.9'], 2)).toBe('198.51.100.1');
    // Fewer entries than trusted hops: the leftmost one.
    expect(clientAddress('10.0.0.1', '203.0.113.9', 3)).toBe('203.0.113.9');
  });

  it('ignores entries that are not IP addresses, so a client cannot name its budget with text', () => {
    expect(clientAddress('10.0.0.1', 'anything-at-all', 1)).toBe('10.0.0.1');
    expect(clientAddress('10.0.0.1', '203.0.113.9, evil', 1)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', ' , ,', 1)).toBe('10.0.0.1');
  });

  it('drops the ports some proxies append and normalises the address', () => {
    expect(clientAddress('10.0.0.1', '203.0.113.9:51234', 1)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', '[2001:DB8::7]:443', 1)).toBe('2001:db8::7');
    expect(clientAddress('10.0.0.1', '::ffff:203.0.113.9', 1)).toBe('203.0.113.9');
  });
});
