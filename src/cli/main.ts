console.log('s3nfs');
