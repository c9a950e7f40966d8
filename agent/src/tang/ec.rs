//! The elliptic-curve steps: the McCallum-Relyea exchange (recovering the ECDH-ES shared point
//! of a clevis JWE with Tang's help, without Tang ever seeing it) and ES256/384/512
//! signatures of Tang's advertisement. Curve arithmetic is RustCrypto's p256/p384/p521.

use super::jose::{Curve, EcJwk};
use crate::bail;
use crate::error::{Error, Result};
use p521::elliptic_curve::group::{Curve as _, Group};
use p521::elliptic_curve::sec1::{FromSec1Point, ModulusSize, ToSec1Point};
use p521::elliptic_curve::{
    AffinePoint, CurveArithmetic, FieldBytesSize, Generate, NonZeroScalar, ProjectivePoint, PublicKey,
};
use zeroize::Zeroizing;

/// Recovers the x coordinate of the ECDH-ES shared point `Z = c·S` of a JWE whose ephemeral
/// public key is `epk` (`C = c·G`) and whose recipient is the server key `server` (`S = s·G`).
/// `exchange` sends a point to Tang's `/rec` and returns `s` times it. We send `X = C + e·G`
/// with a fresh `e`; the answer `s·X` minus `e·S` is `Z`. Tang sees only `X`, which says
/// nothing about `C`.
pub(crate) fn recover_z(
    epk: &EcJwk,
    server: &EcJwk,
    exchange: &mut dyn FnMut(&EcJwk) -> Result<EcJwk>,
) -> Result<Zeroizing<Vec<u8>>> {
    if epk.curve != server.curve {
        bail!("the JWE's key is on {} but the server's on {}", epk.curve.name(), server.curve.name());
    }
    match epk.curve {
        Curve::P256 => recover_on::<p256::NistP256>(epk, server, exchange),
        Curve::P384 => recover_on::<p384::NistP384>(epk, server, exchange),
        Curve::P521 => recover_on::<p521::NistP521>(epk, server, exchange),
    }
}

fn point<C>(what: &str, key: &EcJwk) -> Result<ProjectivePoint<C>>
where
    C: CurveArithmetic,
    FieldBytesSize<C>: ModulusSize,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
{
    PublicKey::<C>::from_sec1_bytes(&key.sec1()?)
        .map(|k| k.to_projective())
        .map_err(|_| Error::msg(format!("{what}: not a point on {}", key.curve.name())))
}

fn uncompressed<C>(p: &ProjectivePoint<C>) -> Result<Zeroizing<Vec<u8>>>
where
    C: CurveArithmetic,
    FieldBytesSize<C>: ModulusSize,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
{
    let encoded = p.to_affine().to_sec1_point(false);
    if encoded.x().is_none() {
        bail!("the point at infinity");
    }
    Ok(Zeroizing::new(encoded.as_bytes().to_vec()))
}

fn recover_on<C>(
    epk: &EcJwk,
    server: &EcJwk,
    exchange: &mut dyn FnMut(&EcJwk) -> Result<EcJwk>,
) -> Result<Zeroizing<Vec<u8>>>
where
    C: CurveArithmetic,
    FieldBytesSize<C>: ModulusSize,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
{
    let client = point::<C>("the JWE's epk", epk)?;
    let server_point = point::<C>("the server's exchange key", server)?;
    let e =
        NonZeroScalar::<C>::try_generate().map_err(|e| Error::msg(format!("random ephemeral key: {e}")))?;
    let request = client + ProjectivePoint::<C>::generator() * *e;
    let request = EcJwk::from_sec1(epk.curve, &uncompressed::<C>(&request)?);
    let reply = exchange(&request)?;
    if reply.curve != epk.curve {
        bail!("the server answered with a key on {}", reply.curve.name());
    }
    let answer = point::<C>("the server's answer", &reply)?;
    let z = answer - server_point * *e;
    let z = uncompressed::<C>(&z).map_err(|e| Error::msg(format!("the shared point is {e}")))?;
    let size = epk.curve.size();
    Ok(Zeroizing::new(z[1..1 + size].to_vec()))
}

/// What Tang's `/rec` computes: the server's private scalar `d` times the request's point.
/// Tests use it to stand in for the server where no network is wanted.
#[cfg(test)]
pub(crate) fn server_answer(private: &[u8], request: &EcJwk) -> Result<EcJwk> {
    fn on<C>(private: &[u8], request: &EcJwk) -> Result<EcJwk>
    where
        C: CurveArithmetic,
        FieldBytesSize<C>: ModulusSize,
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    {
        let d = p521::elliptic_curve::SecretKey::<C>::from_slice(private)
            .map_err(|_| Error::msg("bad private key"))?;
        let p = point::<C>("request", request)? * *d.to_nonzero_scalar();
        Ok(EcJwk::from_sec1(request.curve, &uncompressed::<C>(&p)?))
    }
    match request.curve {
        Curve::P256 => on::<p256::NistP256>(private, request),
        Curve::P384 => on::<p384::NistP384>(private, request),
        Curve::P521 => on::<p521::NistP521>(private, request),
    }
}

/// Checks a JWS ECDSA signature (`alg` ES256/ES384/ES512: raw `r || s`, the curve's hash).
pub(crate) fn verify(alg: &str, key: &EcJwk, message: &[u8], signature: &[u8]) -> Result<()> {
    use p521::ecdsa::signature::Verifier;
    let want = match alg {
        "ES256" => Curve::P256,
        "ES384" => Curve::P384,
        "ES512" => Curve::P521,
        _ => bail!("unsupported signature algorithm {alg:?} (ES256, ES384 and ES512 are)"),
    };
    if key.curve != want {
        bail!("{alg} needs a {} key, this one is on {}", want.name(), key.curve.name());
    }
    let sec1 = key.sec1()?;
    let bad_key = |_| Error::msg(format!("signing key: not a point on {}", key.curve.name()));
    let bad_sig = |_| Error::msg(format!("{alg} signature: malformed"));
    let ok = match want {
        Curve::P256 => {
            let k = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(bad_key)?;
            let s = p256::ecdsa::Signature::from_slice(signature).map_err(bad_sig)?;
            k.verify(message, &s).is_ok()
        }
        Curve::P384 => {
            let k = p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(bad_key)?;
            let s = p384::ecdsa::Signature::from_slice(signature).map_err(bad_sig)?;
            k.verify(message, &s).is_ok()
        }
        Curve::P521 => {
            let k = p521::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(bad_key)?;
            let s = p521::ecdsa::Signature::from_slice(signature).map_err(bad_sig)?;
            k.verify(message, &s).is_ok()
        }
    };
    if !ok {
        bail!("{alg} signature does not verify");
    }
    Ok(())
}
